-- Each group's books as totals per account and business day, kept with the money events in their own
-- transaction (services/ledger/book_totals.py): a trial balance or a cash check reads accounts × days.
-- Closing entries (a profit allocation closing the period's income and expenses) are kept apart, so an income
-- statement still shows what the period earned and spent.
create table group_book_days (
    group_id      uuid    not null,
    account       text    not null,
    business_date date    not null,
    closing       boolean not null default false,
    debit_satang  bigint  not null default 0,
    credit_satang bigint  not null default 0,
    primary key (group_id, account, business_date, closing)
);

-- Built once from the money events a database already holds (book_totals.build_once); a database with none
-- has nothing to build.
create table group_books_state (built_at timestamptz);
insert into group_books_state (built_at)
    select case when exists (select 1 from events) then null else now() end;

-- The journal and the commands that need a group's whole money history (the year's profit, dividends) find
-- them by group: the index must cover every money event type, or the planner scans the whole store.
drop index events_money_by_group;
create index events_money_by_group on events ((payload->>'group_id'), position)
    where event_type in ('ledger.MemberEnrolled', 'ledger.OpeningBalanceRecorded', 'ledger.OpeningLoanRecorded',
                         'ledger.SavingsDeposited', 'ledger.SavingsWithdrawn',
                         'ledger.TransactionReversed', 'ledger.MemberExited', 'ledger.JournalEntryPosted',
                         'ledger.DividendsAllocated', 'ledger.DividendPaid');
