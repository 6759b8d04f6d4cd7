-- Lending's own view of the ledger's members (projected from the ledger topic): who may borrow,
-- in which group and area, and their savings (for limits set as a multiple of savings).
create table members (
    member_id      uuid    primary key,
    group_id       uuid    not null,
    province_code  text    not null,
    district_code  text    not null,
    active         boolean not null default true,
    sajja_satang   bigint  not null default 0,
    special_satang bigint  not null default 0
);
create index members_group on members (group_id);
