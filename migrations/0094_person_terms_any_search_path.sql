-- Autovacuum analyzes under an empty search_path, and there
-- tessera_person_terms (0039), the people_terms index's expression, did not
-- find tessera_person_term, which its body named without a schema: every
-- autoanalyze of people failed ("function tessera_person_term(text, text)
-- does not exist") after sampling the table, so the planner kept the
-- statistics of the last manual ANALYZE however the people changed, and
-- each autovacuum round sampled them again for nothing. A body in SQL
-- standard form is parsed here, with the functions it calls bound once, and
-- means the same under any search_path. The terms are the same, so the
-- index stays valid.
CREATE OR REPLACE FUNCTION tessera_person_terms(account_name text, employee_id text, title text, department text,
    office text, manager_id uuid, enabled boolean, extra jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN (SELECT array_agg(DISTINCT tessera_person_term(n, v)) FROM (
        VALUES ('accountName', account_name), ('employeeId', employee_id), ('title', title),
               ('department', department), ('office', office), ('managerId', manager_id::text),
               ('enabled', enabled::text)
        UNION ALL
        SELECT e.key, v FROM jsonb_each_text(extra) e, unnest(string_to_array(e.value, E'\n')) v
      ) t(n, v) WHERE v <> '');
