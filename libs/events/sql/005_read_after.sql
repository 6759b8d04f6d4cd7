-- Read your writes (libs/events/read_after.py): how far the relay has published, for ?after= reads.
-- `through`: every event of this store with position <= through that ever commits is published.
-- `offsets`: per partition of the topic ({"0": 17, ...}), the offset after the last record the broker
-- `cluster_id` acknowledged to the relay. Null: not known (a checkpoint kept from before this file); the
-- relay then publishes everything again to learn them.
alter table if exists relay_checkpoint add column if not exists through bigint not null default 0;
alter table if exists relay_checkpoint add column if not exists offsets jsonb;
