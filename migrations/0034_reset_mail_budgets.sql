-- Starting a self-service reset mails a code to every address a person
-- registered. Without a limit, anyone could flood a person's inbox by
-- starting resets for them: the codes mailed are budgets now, per person
-- (or per name typed, for an account that names no one) and per client
-- address, kept in signin_budgets under 'reset-mail:' keys like the other
-- budgets. Past either, the flow starts and reads the same, without mail.
ALTER TABLE password_settings
    ADD COLUMN reset_mails_per_person  integer NOT NULL DEFAULT 5 CHECK (reset_mails_per_person BETWEEN 1 AND 100),
    ADD COLUMN reset_mails_per_address integer NOT NULL DEFAULT 30 CHECK (reset_mails_per_address BETWEEN 1 AND 10000);
