-- The erasable register of free text (libs/events/free_text.py): reasons, references, notes and
-- descriptions people type may name a person, so they live here and events carry only `text_id`.
-- Erasure blanks `body` and keeps the row, so references stay valid.
create table if not exists free_text (
    text_id     uuid        primary key,
    stream_id   text        not null,
    field       text        not null,
    body        text,
    created_at  timestamptz not null default now(),
    erased_at   timestamptz,
    check ((body is null) = (erased_at is not null))
);
create index if not exists free_text_stream on free_text (stream_id);
