-- Rebuilds of read models (libs/events/rebuild.py): the latest of each projection, as it goes, so that any
-- process (any replica of the service) answers how far it is. Named by `projection`, not `projector`:
-- it is not progress a rebuild moves.
create table if not exists projection_rebuilds (
    projection   text        primary key,
    request_key  text        not null,
    state        text        not null,
    read         bigint      not null default 0,
    target       bigint      not null default 0,
    applied      bigint      not null default 0,
    error        text,
    started_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now(),
    finished_at  timestamptz
);
