-- The areas with a member of each campaign (a breakdown lists them, activity or not) get their own
-- table: written once per area instead of a row of zeros in campaign_daily at every enrolment.
create table campaign_areas (
    campaign_id  text collate "C"  not null,
    level        text collate "C"  not null check (level in ('national', 'province', 'district', 'group')),
    code         text collate "C"  not null,
    parent       text collate "C"  not null,
    primary key (campaign_id, level, code)
);
create index campaign_areas_children on campaign_areas (campaign_id, level, parent);
insert into campaign_areas (campaign_id, level, code, parent)
select distinct campaign_id, level, code, parent from campaign_daily;

drop index campaign_daily_children;
alter table campaign_daily drop column parent;
-- Keys compared byte-wise (codes and ids, never words: the locale's collation only slows every lookup),
-- and room in each page for the counters' updates in place (HOT).
alter table campaign_daily
    alter column campaign_id type text collate "C",
    alter column level type text collate "C",
    alter column code type text collate "C",
    set (fillfactor = 80);
