-- Onboarding imports (sajja import, POST /ledger/v1/imports): one job per upload, run by the ledger's import
-- worker. The uploaded file is kept only until its job is done (it holds personal data); the report of refused
-- rows (a copy of the file with the bad cells marked) is kept for whoever asked, until it is fetched or old.
create table imports (
    import_id         uuid        primary key,
    idempotency_key   text        not null,
    requested_by      text        not null,
    -- The requester's area, as access control saw it: the file's groups must lie in it.
    scope             jsonb       not null,
    file_name         text        not null,
    file_sha256       text        not null,
    good_groups_only  boolean     not null,
    status            text        not null default 'queued'
                      check (status in ('queued', 'importing', 'imported', 'refused', 'failed')),
    events_total      bigint      not null default 0,
    events_done       bigint      not null default 0,
    source            bytea,
    result            jsonb,
    report            bytea,
    created_at        timestamptz not null default now(),
    finished_at       timestamptz,
    unique (requested_by, idempotency_key)
);
create index imports_waiting on imports (created_at) where status in ('queued', 'importing');
