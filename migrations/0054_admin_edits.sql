-- Administrators change anyone's attributes, core and extra, as requests
-- under policy; helpdesk may be granted a policy of its own.
ALTER TABLE policies DROP CONSTRAINT policies_requestor_check,
    ADD CONSTRAINT policies_requestor_check CHECK (requestor IN ('self', 'manager', 'owners', 'anyone', 'set', 'admins', 'helpdesk'));

-- Every editable core attribute and every extra attribute there is, in the
-- attribute table's order; an attribute added later joins it
-- (coverInAdminPolicies in portal/postgres/schema.go).
INSERT INTO policies (name, description, operation, requestor, attributes, workflow_id)
SELECT 'Administrators edit people''s attributes',
    'Administrators change any person''s attributes, those added in Administration → Schema too, at once.',
    'update_person', 'admins',
    ARRAY['givenName', 'surname', 'displayName', 'title', 'department', 'office', 'phone', 'mobile']
        || coalesce((SELECT array_agg(name ORDER BY name) FROM attribute_schema), '{}'),
    NULL
ON CONFLICT (name) DO NOTHING;
