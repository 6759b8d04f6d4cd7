-- The operations dashboard (issue #6): groups' names for the drill-down (a group's name is not personal
-- data), projected by the statistics projector from GroupRegistered.
create table group_names (
    group_id       uuid primary key,
    name           text not null,
    province_code  text not null,
    district_code  text not null
);
