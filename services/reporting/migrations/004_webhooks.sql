-- Webhook deliveries of each partner's feed entries: retried with back-off until the partner answers 2xx.
create table webhook_deliveries (
    partner          text        not null,
    seq              bigint      not null,
    attempts         integer     not null default 0,
    next_attempt_at  timestamptz not null default now(),
    delivered_at     timestamptz,
    last_error       text,
    primary key (partner, seq)
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where delivered_at is null;
