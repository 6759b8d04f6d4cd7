-- The daily close reads only the loans in arrears on its date (services/lending/handlers.py, close_day).
create index loan_portfolio_in_arrears on loan_portfolio (oldest_unpaid_due_on) where status = 'active';
