-- The campaign counters as aggregates the ledger projection keeps as events arrive (DESIGN §5, "reads
-- cost what they show"): a read sums the daily rows of its area up to the date asked.
--
-- campaigns: each campaign the projection has seen launched (from the campaign topic), with its
-- definition; its state below was computed from the facts once when it arrived, and kept since.
create table campaigns (
    campaign_id  text        primary key,
    definition   jsonb       not null,
    launched_at  timestamptz not null default now()
);

-- Per campaign and member taking part: the day each distinct count starts to include them
-- (counters.member_days). No row: the member counts nowhere.
create table campaign_members (
    campaign_id    text    not null,
    member_id      uuid    not null,
    group_id       uuid    not null,
    province_code  text    not null,
    district_code  text    not null,
    new_member_on  date,
    raised_on      date,
    special_on     date,
    taking_part_on date,
    primary key (campaign_id, member_id)
);
create index campaign_members_group on campaign_members (campaign_id, group_id);

-- Per campaign and group with a member taking part: the first day one of them does.
create table campaign_groups (
    campaign_id    text    not null,
    group_id       uuid    not null,
    province_code  text    not null,
    district_code  text    not null,
    taking_part_on date,
    primary key (campaign_id, group_id)
);

-- Per campaign, area and day inside the window: how much each counter moved that day. Levels:
-- national (code ''), province, district, group (code: the group id). (004 moves parent, and the
-- areas with a member, to campaign_areas.)
create table campaign_daily (
    campaign_id             text    not null,
    level                   text    not null check (level in ('national', 'province', 'district', 'group')),
    code                    text    not null,
    day                     date    not null,
    parent                  text    not null,
    new_members             bigint  not null default 0,
    commitment_raises       bigint  not null default 0,
    special_depositors      bigint  not null default 0,
    special_deposits        bigint  not null default 0,
    special_deposit_amount  bigint  not null default 0,
    members_taking_part     bigint  not null default 0,
    groups_taking_part      bigint  not null default 0,
    savings_added           bigint  not null default 0,
    primary key (campaign_id, level, code, day)
);
create index campaign_daily_children on campaign_daily (campaign_id, level, parent);
