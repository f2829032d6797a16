-- dynamic_rules.version changes with the set of dynamic group rules (a
-- group created, deleted, or its rule set), in the same transaction. A
-- process that keeps the rules in memory, to re-evaluate one person
-- against all of them, reads this one number, not every rule, to know its
-- copy is current.
-- Versions come from a sequence, never reused even when the change that
-- took one rolls back, so that one version always means one set of rules.
CREATE SEQUENCE dynamic_rules_versions;
CREATE TABLE dynamic_rules (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version  bigint NOT NULL
);
INSERT INTO dynamic_rules (version) VALUES (nextval('dynamic_rules_versions'));

CREATE FUNCTION dynamic_rules_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE dynamic_rules SET version = nextval('dynamic_rules_versions');
    RETURN NULL;
END $$;

-- Once per statement, however many groups it touches.
CREATE TRIGGER groups_rules_changed AFTER INSERT OR DELETE OR UPDATE OF membership_rule OR TRUNCATE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION dynamic_rules_changed();
