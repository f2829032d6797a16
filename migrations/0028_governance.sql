-- Administration of people, groups and roles: roles granted through
-- groups, and requests that create, edit and delete groups and create
-- people.

-- Each portal role is held by the members of one group: granting a role is
-- adding a member to that group, through a request like any other, and an
-- access review of the group reviews who holds the role.
CREATE TABLE role_groups (
    role     text PRIMARY KEY CHECK (role IN ('helpdesk', 'admin')),
    group_id uuid NOT NULL UNIQUE REFERENCES groups (id) ON DELETE RESTRICT
);

INSERT INTO groups (name, display_name, description, group_type, join_policy)
SELECT n, d, e, 'security', 'closed'
FROM (VALUES ('tessera-admins', 'Tessera administrators', 'Its members are Tessera''s administrators.'),
             ('tessera-helpdesk', 'Tessera helpdesk', 'Its members are Tessera''s helpdesk agents.')) AS v(n, d, e)
WHERE NOT EXISTS (SELECT 1 FROM groups g WHERE lower(g.name) = v.n);
INSERT INTO role_groups (role, group_id)
SELECT 'admin', id FROM groups WHERE lower(name) = 'tessera-admins'
UNION ALL SELECT 'helpdesk', id FROM groups WHERE lower(name) = 'tessera-helpdesk';

-- The roles granted directly until now become memberships of the roles'
-- groups; person_roles stays as the view that every reader of roles uses.
INSERT INTO group_members (group_id, person_id)
SELECT rg.group_id, pr.person_id FROM person_roles pr JOIN role_groups rg ON rg.role = pr.role
ON CONFLICT DO NOTHING;
DROP TABLE person_roles;
CREATE VIEW person_roles AS
    SELECT m.person_id, rg.role FROM role_groups rg JOIN group_members m ON m.group_id = rg.group_id;

-- grant_role makes a person a member of the group that grants role: the
-- one way SQL grants a role (the demo seed, test fixtures). In the portal
-- a role is granted by a request to add the member.
CREATE FUNCTION grant_role(p_person uuid, p_role text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO group_members (group_id, person_id)
    SELECT group_id, p_person FROM role_groups WHERE role = p_role
    ON CONFLICT DO NOTHING
$$;

-- Writing to the view grants through the group, so that older statements
-- that insert a role row still mean what they say.
CREATE FUNCTION person_roles_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM role_groups WHERE role = NEW.role) THEN
        RAISE EXCEPTION 'no group grants the role %', NEW.role;
    END IF;
    PERFORM grant_role(NEW.person_id, NEW.role);
    RETURN NEW;
END $$;
CREATE TRIGGER person_roles_insert INSTEAD OF INSERT ON person_roles
    FOR EACH ROW EXECUTE FUNCTION person_roles_insert();

-- A group may end (it is deleted, through a request by Tessera, when
-- expires_at passes), and may give each new membership an end date
-- membership_days after it is added.
ALTER TABLE groups ADD COLUMN expires_at timestamptz,
    ADD COLUMN membership_days integer CHECK (membership_days BETWEEN 1 AND 3650);

-- Requests that create, edit and delete groups and create people. A
-- request to create keeps what it creates in changes until it is applied;
-- a deleted group's requests keep their history (group_id becomes NULL,
-- changes keep its name).
ALTER TABLE requests DROP CONSTRAINT requests_operation_check,
    ADD CONSTRAINT requests_operation_check CHECK (operation IN ('add_member', 'remove_member', 'add_owner', 'remove_owner',
        'update_person', 'create_person', 'create_group', 'update_group', 'delete_group'));
ALTER TABLE requests DROP CONSTRAINT requests_check,
    ADD CONSTRAINT requests_person_has_no_group CHECK (operation NOT IN ('update_person', 'create_person') OR group_id IS NULL);
ALTER TABLE requests DROP CONSTRAINT requests_group_id_fkey,
    ADD CONSTRAINT requests_group_id_fkey FOREIGN KEY (group_id) REFERENCES groups (id) ON DELETE SET NULL;

-- Policies grant the new operations, and may name administrators (the
-- members of the group that grants the admin role) as their requestors.
ALTER TABLE policies DROP CONSTRAINT policies_operation_check,
    ADD CONSTRAINT policies_operation_check CHECK (operation IN ('add_member', 'remove_member', 'add_owner', 'remove_owner',
        'update_person', 'create_person', 'create_group', 'update_group', 'delete_group'));
ALTER TABLE policies DROP CONSTRAINT policies_requestor_check,
    ADD CONSTRAINT policies_requestor_check CHECK (requestor IN ('self', 'manager', 'owners', 'anyone', 'set', 'admins'));

INSERT INTO policies (name, description, operation, requestor, attributes, workflow_id) VALUES
('Administrators create groups', 'Administrators create groups, at once.', 'create_group', 'admins', '{}', NULL),
('Administrators edit groups', 'Administrators change any group''s name, description, type and joining, at once.', 'update_group', 'admins', '{}', NULL),
('Owners edit their groups', 'Group owners change their group''s description, type and joining, at once.', 'update_group', 'owners', '{}', NULL),
('Administrators delete groups', 'Administrators delete groups, at once.', 'delete_group', 'admins', '{}', NULL),
('Administrators add members', 'Administrators add members to any group (roles are granted so), at once.', 'add_member', 'admins', '{}', NULL),
('Administrators remove members', 'Administrators remove members from any group, at once.', 'remove_member', 'admins', '{}', NULL),
('Administrators create people', 'Administrators create people by hand (contractors, with an end date), at once.', 'create_person', 'admins', '{}', NULL),
('Administrators manage people', 'Administrators set a person''s manager and enable or disable them, at once.', 'update_person', 'admins',
 '{managerId,enabled}', NULL);

-- A person created by hand may have an end date: they are disabled when
-- that day ends in its time zone, by a timer, as an HR end date does.
CREATE TABLE person_end_dates (
    person_id uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    ends      date NOT NULL,
    time_zone text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64)
);
