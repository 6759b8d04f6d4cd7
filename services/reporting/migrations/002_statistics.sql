-- Statistics from group to nation on any date (issue #6): every change to a counted figure is kept as
-- a dated delta (by business date), so a figure on a date is the sum of its deltas up to that date.
create table stat_deltas (
    id             bigint  generated always as identity primary key,
    day            date    not null,
    province_code  text    not null,
    district_code  text    not null,
    group_id       uuid    not null,
    member_id      uuid,
    metric         text    not null,  -- groups | members | sajja | special | loan_open | loans_outstanding
    delta          bigint  not null
);
create index stat_deltas_area on stat_deltas (province_code, district_code, day);
create index stat_deltas_group on stat_deltas (group_id, day);

-- Which loans are a programme's (their money is not the groups'): lending's LoanApplied says so.
create table loan_kinds (
    loan_id       uuid primary key,
    programme_id  text,
    member_id     uuid not null,
    group_id      uuid not null
);
