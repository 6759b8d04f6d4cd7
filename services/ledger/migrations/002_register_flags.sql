-- IDs of people without registration status (starting with 0) are accepted and flagged, not refused.
alter table member_register add column no_registration_status boolean not null default false;
alter table member_register add column joined_on date;
create index member_register_group_order on member_register (group_id, member_id);
