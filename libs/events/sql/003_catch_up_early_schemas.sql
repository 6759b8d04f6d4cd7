-- 001 was edited in place twice before any deployment existed; a database migrated before those
-- edits (an early `.sajja/` from `make run`) never got them. Bring such a database level; on one
-- migrated since, every statement here is a no-op. From now on shared SQL changes only by new files.
drop trigger if exists events_appended on events;
drop function if exists notify_events_appended();
alter table projector_streams add column if not exists seen_version integer not null default 0;
alter table projector_streams add column if not exists waiting_since timestamptz;
create index if not exists projector_streams_waiting on projector_streams (projector, waiting_since)
    where waiting_since is not null;
