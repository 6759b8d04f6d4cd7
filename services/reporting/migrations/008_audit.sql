-- Audit (issue #7): who did what, from every event of every service's topic — the actor each event
-- records, its area, when — for GET /reporting/v1/audit.
create table audit_log (
    seq            bigint      generated always as identity primary key,
    event_id       uuid        not null unique,
    service        text        not null,
    event_type     text        not null,
    stream_id      text        not null,
    actor_kind     text        not null,
    actor_id       text        not null,
    province_code  text,
    district_code  text,
    occurred_at    timestamptz not null,
    recorded_at    timestamptz not null
);
create index audit_log_actor on audit_log (actor_id, occurred_at);
create index audit_log_area on audit_log (province_code, district_code, occurred_at);
create index audit_log_time on audit_log (occurred_at);
