-- The key of the budget a reset flow's wrong gates spend when its account
-- names no one (the typed name's hash, as the start computed it): kept
-- with the flow, so that checking a gate reads the flow and its budgets in
-- one statement whether or not the account names someone. NULL for flows
-- started before this column (they live half an hour): the gate check
-- then reads their budgets on its own.
ALTER TABLE password_resets ADD COLUMN name_budget text;
