-- Member balances read model, projected from sajja.ledger.v1.
create table member_balances (
    member_id       uuid    primary key,
    group_id        uuid    not null,
    sajja_satang    bigint  not null default 0,
    special_satang  bigint  not null default 0
);
create index member_balances_group on member_balances (group_id);
