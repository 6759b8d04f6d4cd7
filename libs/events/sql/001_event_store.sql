-- Shared machinery in every service schema: event store, relay checkpoint, idempotency, projector progress.
-- Runs with search_path set to the service's schema.

create table events (
    stream_id       text        not null,
    stream_version  integer     not null check (stream_version > 0),
    position        bigint      generated always as identity unique,
    event_id        uuid        not null unique,
    event_type      text        not null,
    schema_version  integer     not null,
    occurred_at     timestamptz not null,
    recorded_at     timestamptz not null default now(),
    actor           jsonb       not null,
    correlation_id  uuid,
    causation_id    uuid,
    area            jsonb,
    payload         jsonb       not null,
    traceparent     text,
    tracestate      text,
    -- The writing transaction: the relay reads only below the oldest running transaction (the gap cure, DESIGN §4).
    xact_id         xid8        not null default pg_current_xact_id(),
    primary key (stream_id, stream_version)
);
create index events_relay_order on events (xact_id, position);

-- No NOTIFY trigger here: a transaction that notifies holds PostgreSQL's notification lock from
-- pre-commit through its WAL flush, which serialises every commit in the database. Commands send one
-- NOTIFY after they commit instead (libs/events/wakeup.py).

create table relay_checkpoint (
    topic       text        primary key,
    xact_id     xid8        not null,
    position    bigint      not null,
    published   bigint      not null default 0,
    -- The broker cluster the checkpoint refers to: a broker that came back empty has a new id.
    cluster_id  text,
    updated_at  timestamptz not null default now()
);

create table idempotency_keys (
    key          text        primary key,
    fingerprint  text        not null,
    status_code  integer     not null,
    response     jsonb       not null,
    created_at   timestamptz not null default now()
);

-- Projector progress: Kafka offsets to seek from, and per source stream the last version applied.
create table projector_offsets (
    projector    text    not null,
    topic        text    not null,
    partition    integer not null,
    next_offset  bigint  not null,
    cluster_id   text    not null,
    primary key (projector, topic, partition)
);
create table projector_streams (
    projector       text    not null,
    stream_id       text    not null,
    stream_version  integer not null,
    position        bigint  not null,
    -- The highest version seen, and since when a version between is missing (an event held back).
    seen_version    integer not null default 0,
    waiting_since   timestamptz,
    primary key (projector, stream_id)
);
create index projector_streams_waiting on projector_streams (projector, waiting_since)
    where waiting_since is not null;
