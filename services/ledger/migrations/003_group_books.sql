-- Group books are derived from the money events of a group: find them by group without a scan.
create index events_money_by_group on events ((payload->>'group_id'), position)
    where event_type in ('ledger.SavingsDeposited', 'ledger.SavingsWithdrawn',
                         'ledger.TransactionReversed', 'ledger.MemberExited');
