-- Finding a member by name within an officer's area (issue #15 item 4): an area's groups are found by their
-- first event's area (one small row per group in these partial indexes), then their members in the register
-- by group (member_register_group_order). A search costs the area's members, never the events' history.
create index events_groups_by_district on events ((area ->> 'district_code'), stream_id)
    where stream_version = 1 and event_type = 'ledger.GroupRegistered';
create index events_groups_by_province on events ((area ->> 'province_code'), stream_id)
    where stream_version = 1 and event_type = 'ledger.GroupRegistered';
