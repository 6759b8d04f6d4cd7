-- Transactional inbox (libs/events/inbox.py): messages from other services' events, kept once each,
-- handled in arrival order.
create table inbox (
    seq         bigint      generated always as identity,
    message_id  text        primary key,
    kind        text        not null,
    payload     jsonb       not null,
    received_at timestamptz not null default now(),
    handled_at  timestamptz,
    outcome     text,
    attempts    integer     not null default 0,
    retry_at    timestamptz
);
create index inbox_pending on inbox (seq) where handled_at is null;
