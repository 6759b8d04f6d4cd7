-- Where a pawn loan is paid: bank account or PromptPay proxy are personal data, so they live here
-- (erasable), never in events; events carry only the instruction id and the channel.
create table payout_register (
    instruction_id  uuid        primary key,
    ticket_id       uuid        not null unique,
    channel         text        not null,
    bank_code       text,
    account_number  text,
    promptpay_id    text,
    created_at      timestamptz not null default now(),
    erased_at       timestamptz
);
