-- What the campaign counters are computed from, projected from the ledger topic: one row per member,
-- each commitment change, each savings movement (reversals mark theirs). Counters are derived from
-- these facts when read, so the order events arrive in across streams cannot change them.
create table member_facts (
    member_id                  uuid    primary key,
    group_id                   uuid    not null,
    province_code              text    not null,
    district_code              text    not null,
    joined_on                  date    not null,
    initial_commitment_satang  bigint  not null,
    exited_on                  date
);
create index member_facts_area on member_facts (province_code, district_code);

create table commitment_changes (
    member_id          uuid    not null,
    stream_version     integer not null,
    effective_month    date    not null,
    commitment_satang  bigint  not null,
    primary key (member_id, stream_version)
);

create table savings_moves (
    move_id        uuid    primary key,  -- the transaction id (an exit's event id for its payout)
    member_id      uuid    not null,
    account        text    not null,
    kind           text    not null check (kind in ('deposit', 'withdrawal', 'exit')),
    amount_satang  bigint  not null,
    on_date        date    not null,
    reversed_on    date
);
create index savings_moves_member on savings_moves (member_id);
