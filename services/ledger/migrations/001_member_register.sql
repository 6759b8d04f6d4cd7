-- The erasable member register: personal data lives here, never in events (DESIGN §3, PDPA).
create table member_register (
    member_id         uuid        primary key,
    group_id          uuid        not null,
    national_id_hash  text        not null,
    national_id       text,
    full_name         text,
    phone             text,
    created_at        timestamptz not null default now(),
    erased_at         timestamptz,
    unique (group_id, national_id_hash)
);
