-- Beneficiaries are personal data: they live in the erasable register, never in events.
create table member_beneficiaries (
    member_id     uuid     not null references member_register (member_id),
    position      smallint not null,
    full_name     text,
    relationship  text,
    share_percent numeric(5, 2) not null check (share_percent > 0 and share_percent <= 100),
    primary key (member_id, position)
);
