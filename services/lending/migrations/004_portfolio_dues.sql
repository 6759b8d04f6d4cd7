-- Portfolio quality from aggregates (issue #13, DESIGN §5): per area (nation, province, district, group)
-- and oldest unpaid due date, the active loans and their outstanding principal. A read for a date buckets
-- the area's rows by days past due, so it costs the area's distinct due dates, not its loans.
-- '9999-12-31' stands for "nothing unpaid yet" (never past due).
create table portfolio_dues (
    level               text    not null,  -- national | province | district | group
    code                text    not null,  -- '' for the nation; a province or district code; a group id
    parent              text    not null,  -- the area one level up ('' for the nation and provinces)
    due_on              date    not null,
    loans               bigint  not null,
    outstanding_satang  bigint  not null,
    primary key (level, code, due_on)
);
create index portfolio_dues_children on portfolio_dues (level, parent, code);

-- Filled by the loan_portfolio projector re-reading lending's topic from the start: its progress is
-- forgotten and its loans table emptied, so every loan is counted once into the new rows.
truncate loan_portfolio;
delete from projector_offsets where projector = 'loan_portfolio';
delete from projector_streams where projector = 'loan_portfolio';
