-- Officers' worklists (issue #15 item 4).
-- Loans in arrears, worst first: an area's active loans by their oldest unpaid due date, so a page of the
-- worklist reads the rows it shows (an index range), never the area's other loans or their history.
create index loan_portfolio_arrears_district on loan_portfolio (district_code, oldest_unpaid_due_on, loan_id)
    where status = 'active';
create index loan_portfolio_arrears_province on loan_portfolio (province_code, oldest_unpaid_due_on, loan_id)
    where status = 'active';
create index loan_portfolio_arrears_national on loan_portfolio (oldest_unpaid_due_on, loan_id)
    where status = 'active';

-- Applications waiting for a checker (maker-checker): kept by the loan_applications projector from lending's own
-- topic while they wait, gone once fully approved or rejected. A read costs the area's waiting applications.
create table loan_applications (
    loan_id             uuid    primary key,
    group_id            uuid    not null,
    member_id           uuid    not null,
    province_code       text    not null,
    district_code       text    not null,
    product_id          text    not null,
    programme_id        text,
    principal_satang    bigint  not null,
    term_months         integer not null,
    applied_on          date    not null,
    entered_by          text    not null,
    approvals_required  integer not null,
    approved_by         text[]  not null default '{}'
);
create index loan_applications_district on loan_applications (district_code, applied_on);
create index loan_applications_province on loan_applications (province_code, applied_on);
create index loan_applications_group on loan_applications (group_id, applied_on);

-- Filled by the loan_applications projector, new with this table, which reads lending's topic from its start. The
-- loan portfolio keeps its rows and its progress (services/lending/projections.py, WaitingApplications).
