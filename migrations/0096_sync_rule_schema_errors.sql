-- Why a saved sync rule can no longer be exported, found when the system's
-- schema was read after the rule was saved (a rule saved before the first
-- full import is checked against no schema): shown on the rule's page and
-- the system's until the rule is saved again or a later schema read takes
-- it. Empty: nothing known against it. The text is kept as format and
-- arguments beside its English (portal/storedtext.go).
ALTER TABLE sync_rules ADD COLUMN schema_error text NOT NULL DEFAULT '',
    ADD COLUMN schema_error_text jsonb;
