-- Loan portfolio read model (projected from lending's own topic): enough to age every loan on any
-- business date (days past due count from the oldest unpaid installment) and sum it by area.
create table loan_portfolio (
    loan_id               uuid    primary key,
    group_id              uuid    not null,
    member_id             uuid    not null,
    province_code         text    not null,
    district_code         text    not null,
    status                text    not null,
    principal_satang      bigint  not null,
    outstanding_satang    bigint  not null,
    oldest_unpaid_due_on  date,
    disbursed_on          date    not null
);
create index loan_portfolio_area on loan_portfolio (province_code, district_code, group_id);
