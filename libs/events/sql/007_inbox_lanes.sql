-- Inbox lanes (libs/events/inbox.py): a lane's messages (a group's) are handled in arrival order, lanes side by
-- side, so one group's requests never wait behind another's. Messages kept before lanes share the lane ''.
alter table inbox add column lane text not null default '';
create index inbox_lane_pending on inbox (lane, seq) where handled_at is null;
