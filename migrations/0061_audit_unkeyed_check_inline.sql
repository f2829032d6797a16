-- An unkeyed audit writer checks that the log is unkeyed inside the insert.
--
-- audit_append and audit_append_many refuse a session whose key is not the
-- log's (0057). A keyed session checks once and remembers; an unkeyed one
-- cannot remember (a keyed writer may key the log at any time), so it
-- checked at every call: audit_check_log_key, a plpgsql function calling
-- another (audit_log_key), each statement of which plpgsql runs on its own
-- (a PERFORM, the newest entry's read, the tip's). In
-- BenchmarkRequestPipelineOneByOne, whose process has no key, that cost
-- about 0.1 ms an append, two appends a request: 4,000 calls, 0.41 s of a
-- 2,000-request run, beside 1.0 s for the inserts themselves.
--
-- Now the unkeyed check is a condition of the INSERT itself: the same read
-- of the newest entry (and, when it is chained, of the tip), made once by
-- the statement as an init plan. Should the log be keyed, the insert
-- writes nothing, and the function raises the same error as before. A
-- keyed session checks as 0057 does (once a session).

-- The condition is audit_log_key() IS NULL written out (in 0022's form):
-- a function reading tables cannot be inlined into the statement.

CREATE OR REPLACE FUNCTION audit_append(p_actor uuid, p_action text, p_target_type text,
                                        p_target_id text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    k       bytea := audit_session_key();
    kid     bytea;
    ts      timestamptz;
    new_id  bigint;
BEGIN
    IF k IS NOT NULL THEN
        kid := audit_key_id(k);
        PERFORM audit_check_log_key(kid);
    END IF;
    -- Shared, and before the id is taken (0022_audit_sequencer.sql).
    PERFORM pg_advisory_xact_lock_shared(7261126002);
    ts := date_trunc('milliseconds', clock_timestamp());
    INSERT INTO audit_log (id, at, actor_id, action, target_type, target_id, details, key_id, entry_mac)
    OVERRIDING SYSTEM VALUE
    SELECT e.id, ts, p_actor, p_action, p_target_type, p_target_id, p_details, kid,
           audit_entry_mac(k, int8send(e.id), ts, p_actor, p_action, p_target_type, p_target_id, p_details)
    FROM (SELECT nextval('audit_log_id_seq') AS id) AS e
    WHERE kid IS NOT NULL OR (
        SELECT CASE WHEN l.waiting THEN l.key_id ELSE (SELECT key_id FROM audit_tip) END
        FROM (SELECT true) AS one(x)
        LEFT JOIN LATERAL (SELECT hash IS NULL AS waiting, key_id FROM audit_log ORDER BY id DESC LIMIT 1) AS l ON true
    ) IS NULL
    RETURNING id INTO new_id;
    IF new_id IS NULL THEN
        -- Keyed meanwhile: raises (a keyed log refuses an unkeyed session).
        PERFORM audit_check_log_key(kid);
        RAISE EXCEPTION 'the audit log is keyed, and this session has no key: every Tessera process needs the same TESSERA_SECRET_KEY';
    END IF;
    RETURN new_id;
END $$;

CREATE OR REPLACE FUNCTION audit_append_many(p_actors uuid[], p_actions text[], p_target_types text[],
                                             p_target_ids text[], p_details jsonb[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    k       bytea := audit_session_key();
    kid     bytea;
    ts      timestamptz;
    n       integer;
BEGIN
    IF k IS NOT NULL THEN
        kid := audit_key_id(k);
        PERFORM audit_check_log_key(kid);
    END IF;
    -- Shared, and before the ids are taken (0022_audit_sequencer.sql).
    PERFORM pg_advisory_xact_lock_shared(7261126002);
    ts := date_trunc('milliseconds', clock_timestamp());
    INSERT INTO audit_log (id, at, actor_id, action, target_type, target_id, details, key_id, entry_mac)
    OVERRIDING SYSTEM VALUE
    SELECT e.id, ts, e.a, e.c, e.t, e.r, e.d, kid, audit_entry_mac(k, int8send(e.id), ts, e.a, e.c, e.t, e.r, e.d)
    FROM (SELECT nextval('audit_log_id_seq') AS id, a, c, t, r, d
          FROM unnest(p_actors, p_actions, p_target_types, p_target_ids, p_details) AS u(a, c, t, r, d)
          WHERE kid IS NOT NULL OR (
              SELECT CASE WHEN l.waiting THEN l.key_id ELSE (SELECT key_id FROM audit_tip) END
              FROM (SELECT true) AS one(x)
              LEFT JOIN LATERAL (SELECT hash IS NULL AS waiting, key_id FROM audit_log ORDER BY id DESC LIMIT 1) AS l ON true
          ) IS NULL) AS e;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n < coalesce(cardinality(p_actors), 0) THEN
        PERFORM audit_check_log_key(kid);
        RAISE EXCEPTION 'the audit log is keyed, and this session has no key: every Tessera process needs the same TESSERA_SECRET_KEY';
    END IF;
    RETURN n;
END $$;
