-- What nominations need from the lending topic: each loan's borrower, product and due dates, and the
-- installments the daily close found overdue (the on-time repayment record).
create table loan_facts (
    loan_id     uuid    primary key,
    member_id   uuid    not null,
    product_id  text    not null,
    due_dates   date[]  not null default '{}'
);
create index loan_facts_member on loan_facts (member_id);

create table overdue_installments (
    loan_id      uuid    not null,
    installment  integer not null,
    primary key (loan_id, installment)
);
