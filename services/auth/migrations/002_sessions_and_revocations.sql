-- Issue 12: sessions recorded server-side (signing out ends one), access withdrawn at once (a user
-- deactivated or their password reset, a client deactivated or its secret rotated), and sign-in
-- throttled per address instead of locking accounts (anyone could lock anyone's, admin included).
alter table users drop column failed_logins;
alter table users drop column locked_until;
-- Tokens carry the generation they were issued under; raising it ends every earlier token at once.
alter table users add column generation integer not null default 0;
alter table clients add column generation integer not null default 0;

create table sessions (
    session_id   text        primary key,
    username     text        not null references users (username),
    generation   integer     not null,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    ended_at     timestamptz,
    -- 'signed out' | 'deactivated' | 'password reset'
    ended_why    text
);
create index sessions_by_user on sessions (username) where ended_at is null;

-- What every service's guard refuses before expiry, read incrementally by position. Only hashes:
-- the list may be served to any service without a token.
create table revocations (
    seq          bigint      generated always as identity primary key,
    -- a session (sha256 of its id), or a subject (sha256 of "kind:subject") with its new generation
    session_hash text,
    subject_hash text,
    generation   integer,
    expires_at   timestamptz,
    at           timestamptz not null default now(),
    check ((session_hash is not null) <> (subject_hash is not null))
);
