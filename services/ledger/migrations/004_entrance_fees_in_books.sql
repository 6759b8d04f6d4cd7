-- Enrolments carry the entrance fee, which the group books post as income.
drop index events_money_by_group;
create index events_money_by_group on events ((payload->>'group_id'), position)
    where event_type in ('ledger.MemberEnrolled', 'ledger.SavingsDeposited', 'ledger.SavingsWithdrawn',
                         'ledger.TransactionReversed', 'ledger.MemberExited');
