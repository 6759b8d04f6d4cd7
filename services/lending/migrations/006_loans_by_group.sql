-- A group's active loans, for its collection sheet (GET /lending/v1/groups/{id}/installments-due): by group.
create index loan_portfolio_by_group on loan_portfolio (group_id) where status = 'active';
