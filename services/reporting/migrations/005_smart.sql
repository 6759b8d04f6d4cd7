-- SMART Saving Group grading (issue #6): month-end closes per group (projected from the ledger topic),
-- governance items officers record, and the history of gradings.
create table group_closes (
    group_id        uuid    not null,
    month           date    not null,
    members_due     integer not null,
    members_missed  integer not null,
    province_code   text    not null,
    district_code   text    not null,
    primary key (group_id, month)
);
create table group_governance (
    group_id     uuid        not null,
    item         text        not null,
    done         boolean     not null,
    recorded_on  date        not null,
    recorded_by  text        not null,
    primary key (group_id, item)
);
create table smart_gradings (
    id         bigint      generated always as identity primary key,
    group_id   uuid        not null,
    graded_on  date        not null,
    level      integer     not null,
    criteria   jsonb       not null,
    graded_at  timestamptz not null default now()
);
create index smart_gradings_group on smart_gradings (group_id, id);
