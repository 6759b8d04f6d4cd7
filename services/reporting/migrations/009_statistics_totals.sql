-- Statistics from running totals (issue #13, DESIGN §5 "reads cost what they show"): instead of every
-- dated delta ever recorded, each change is added to its area's year, month and day rows at every level,
-- so a figure on a date sums at most (years + 11 + 31) rows of the area, whatever the history.
create table stat_totals (
    level              text    not null,  -- national | province | district | group
    code               text    not null,  -- '' for the nation; a province or district code; a group id
    grain              text    not null,  -- y | m | d: the row holds the changes of that year, month or day
    start              date    not null,  -- the period's first day
    groups             bigint  not null default 0,
    members            bigint  not null default 0,
    sajja              bigint  not null default 0,
    special            bigint  not null default 0,
    borrowers          bigint  not null default 0,
    loans_outstanding  bigint  not null default 0,
    primary key (level, code, grain, start)
);
-- Every area with any history, under its parent: the breakdown's child areas.
create table stat_areas (
    level   text not null,
    code    text not null,
    parent  text not null,
    primary key (level, parent, code)
);
-- Borrowers (a distinct count): each member's dated net change of open group loans (+1 paid out,
-- -1 closed); a member is a borrower on a day while the sum up to it is positive. The member's row holds
-- the area they count in, and is locked while their dates change.
create table borrower_members (
    member_id      uuid primary key,
    province_code  text not null,
    district_code  text not null,
    group_id       text not null
);
create table borrower_days (
    member_id  uuid    not null,
    day        date    not null,
    open       integer not null,
    primary key (member_id, day)
);
drop table stat_deltas;
-- SMART's closest groups list a district's groups by name.
create index group_names_district on group_names (district_code, group_id);

-- The new tables are filled by the statistics projector re-reading the ledger and lending topics from the
-- start: its progress is forgotten (offsets and streams), and what it wrote is rebuilt. group_names and
-- loan_kinds are written idempotently, so they stay.
delete from projector_offsets where projector = 'statistics';
delete from projector_streams where projector = 'statistics';
