-- The white pages filter people by attribute values: the core attributes
-- the search words do not find (account name, employee ID, title,
-- department, office, manager, account status: portal.Attribute's
-- Filterable) and every extra attribute an administrator added.
--
-- One GIN index holds a term for each value a person has, so that any
-- mix of filters, with or without search words, is an exact lookup of a
-- few keys (intersected with the search's stem index when there are
-- words) and never a scan of everyone. A term is the md5 of the folded
-- "name=value": fixed in size whatever the value (an extra text takes up
-- to 1,024 characters, more than a GIN key may hold), and the same for
-- the query, which computes it with the same function. Each value of a
-- multi-valued attribute (kept one a line) is a term of its own.
CREATE FUNCTION tessera_person_term(name text, value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT md5(lower(name) || '=' || lower(value)) $$;

CREATE FUNCTION tessera_person_terms(account_name text, employee_id text, title text, department text,
    office text, manager_id uuid, enabled boolean, extra jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT array_agg(DISTINCT tessera_person_term(n, v)) FROM (
        VALUES ('accountName', account_name), ('employeeId', employee_id), ('title', title),
               ('department', department), ('office', office), ('managerId', manager_id::text),
               ('enabled', enabled::text)
        UNION ALL
        SELECT e.key, v FROM jsonb_each_text(extra) e, unnest(string_to_array(e.value, E'\n')) v
      ) t(n, v) WHERE v <> '' $$;

-- Without a pending list, every search reads only the index proper (as
-- people_search_stems).
CREATE INDEX people_terms ON people USING gin (
    tessera_person_terms(account_name, employee_id, title, department, office, manager_id, account_enabled, extra)) WITH (fastupdate = off);
