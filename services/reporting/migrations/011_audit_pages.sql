-- The audit list in cursor order (issue #13): a page filtered by who or where reads its index from the
-- cursor on and stops after a page — (actor_id, seq), (province_code, seq), (district_code, seq); with no
-- such filter, the primary key. They replace the (…, occurred_at) indexes, which served a time order the
-- list does not have.
create index audit_log_actor_seq on audit_log (actor_id, seq);
create index audit_log_province_seq on audit_log (province_code, seq);
create index audit_log_district_seq on audit_log (district_code, seq);
drop index audit_log_actor;
drop index audit_log_area;
-- A district lies in one province, and an officer acts mostly in one area: without these the planner
-- multiplies the filters' selectivities, expects a handful of rows and reads the whole area to sort it.
create statistics audit_log_area_dependencies (dependencies) on actor_id, province_code, district_code
    from audit_log;
-- A time window as a range of seq: each day's (UTC) first and last seq, widened by the audit projector.
create table audit_days (
    day        date   primary key,
    first_seq  bigint not null,
    last_seq   bigint not null
);
insert into audit_days (day, first_seq, last_seq)
select (occurred_at at time zone 'UTC')::date, min(seq), max(seq) from audit_log group by 1;
analyze audit_log;
