-- The referral feed for partner banks (issue #6): what eligibility needs (projected from the ledger and
-- lending topics), the feed itself (referrals and revocations, a cursor by seq), outcomes partners post
-- back, and the disclosure log of every record shared.
create table referral_members (
    member_id      uuid    primary key,
    group_id       uuid    not null,
    province_code  text    not null,
    district_code  text    not null,
    joined_on      date    not null,
    exited         boolean not null default false
);
create table referral_consents (
    member_id       uuid        not null,
    partner         text        not null,
    purpose         text        not null,
    in_force        boolean     not null,
    notice_version  text,
    changed_at      timestamptz not null,
    primary key (member_id, partner, purpose)
);
create table referral_missed (
    member_id  uuid not null,
    month      date not null,
    primary key (member_id, month)
);
create table referral_loans (
    loan_id            uuid    primary key,
    member_id          uuid    not null,
    repayments         integer not null default 0,
    overdue            integer not null default 0,
    max_days_past_due  integer not null default 0,
    last_overdue_on    date
);
create index referral_loans_member on referral_loans (member_id);
create table referral_feed (
    seq          bigint      generated always as identity primary key,
    partner      text        not null,
    purpose      text        not null,
    kind         text        not null check (kind in ('referral', 'revocation')),
    referral_id  text        not null,
    member_id    uuid        not null,
    score        text,
    evidence     jsonb,
    created_at   timestamptz not null default now()
);
create index referral_feed_partner on referral_feed (partner, seq);
create table referral_outcomes (
    referral_id  text        not null,
    partner      text        not null,
    outcome      text        not null,
    noted_at     timestamptz not null default now(),
    primary key (referral_id, partner, outcome)
);
create table disclosure_log (
    id            bigint      generated always as identity primary key,
    partner       text        not null,
    purpose       text        not null,
    referral_id   text        not null,
    member_id     uuid        not null,
    fields        text[]      not null,
    disclosed_at  timestamptz not null default now()
);
