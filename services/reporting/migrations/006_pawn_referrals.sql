-- Pawn customers in the partner referral feeds (issue #6: "pawn customers with a record of on-time
-- redemptions"). What eligibility needs, projected from the lending topic by referral_facts: each ticket
-- (the customer known only by the pawnshop office's customer_ref), its renewals with the maturity date in
-- force when each was paid, and the customers' consents. Feed entries and disclosures name either a
-- member or a pawn customer.
create table referral_pawn_tickets (
    ticket_id         uuid    primary key,
    customer_ref      text    not null,
    branch_code       text    not null,
    principal_satang  bigint  not null,
    pledged_on        date    not null,
    maturity_date     date    not null,  -- in force now: the pledge's, then the last renewal's
    paid_out          boolean not null default false,
    redeemed_on       date,
    forfeited_on      date
);
create index referral_pawn_tickets_customer on referral_pawn_tickets (customer_ref);
create table referral_pawn_renewals (
    ticket_id        uuid    not null,
    stream_version   integer not null,
    paid_on          date    not null,
    due_by           date    not null,  -- the maturity date in force when the interest was paid
    primary key (ticket_id, stream_version)
);
create table referral_pawn_consents (
    customer_ref    text        not null,
    partner         text        not null,
    purpose         text        not null,
    in_force        boolean     not null,
    notice_version  text,
    changed_at      timestamptz not null,
    primary key (customer_ref, partner, purpose)
);
alter table referral_feed
    alter column member_id drop not null,
    add column customer_ref text,
    add constraint referral_feed_one_subject check (num_nonnulls(member_id, customer_ref) = 1);
create index referral_feed_pawn_customer on referral_feed (customer_ref, partner, purpose, seq)
    where customer_ref is not null;
alter table disclosure_log
    alter column member_id drop not null,
    add column customer_ref text,
    add constraint disclosure_log_one_subject check (num_nonnulls(member_id, customer_ref) = 1);

-- Pawn tickets published before referral_facts read them: it re-reads the lending topic from the start
-- (streams it applied already are skipped by their versions; pawn ticket streams, which it passed over
-- without recording anything, are applied afresh).
delete from projector_offsets where projector = 'referral_facts' and topic like '%.lending.v1';
delete from projector_streams where projector = 'referral_facts' and stream_id like 'pawn-%';
