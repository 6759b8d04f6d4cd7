-- Access control (issue #7): operations users (argon2 password hashes, lock-out after failures) and
-- partner clients (OAuth2 client credentials, argon2 secret hashes).
create table users (
    username        text        primary key,
    display_name    text        not null,
    password_hash   text        not null,
    role            text        not null,
    province_code   text,
    district_code   text,
    group_id        uuid,
    active          boolean     not null default true,
    failed_logins   integer     not null default 0,
    locked_until    timestamptz,
    created_by      text        not null,
    created_at      timestamptz not null default now()
);
create table clients (
    client_id    text        primary key,
    secret_hash  text        not null,
    partner      text        not null,
    scopes       text[]      not null,
    active       boolean     not null default true,
    created_by   text        not null,
    created_at   timestamptz not null default now()
);
-- Who changed users and clients: auth keeps tables, not events, so it logs its own changes.
create table admin_log (
    id          bigint      generated always as identity primary key,
    actor       text        not null,
    action      text        not null,
    subject     text        not null,
    at          timestamptz not null default now()
);
