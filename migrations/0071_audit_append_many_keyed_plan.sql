-- A keyed session's audit_append_many inserts its entries without the
-- unkeyed check in the statement, so that PostgreSQL plans that insert
-- once a session rather than at every call: what 0074 did for
-- audit_append.
--
-- 0061's insert holds, for keyed and unkeyed sessions alike, WHERE kid IS
-- NOT NULL OR (the newest entry's and the tip's key) IS NULL. A plan made
-- for a session's own key drops the check, so it always looked cheaper
-- than the generic plan, and the insert was planned afresh at every call:
-- on one keyed connection, 301 plans for 300 calls of two entries, 0.25 ms
-- of planning each beside 0.19 ms of running them (a request's records,
-- a dynamic group's changes). Now a keyed session runs an insert of its
-- own, with nothing to drop: the same rows, the same MACs over the same
-- bytes, the ids taken after the same lock in the same order. An unkeyed
-- session runs 0061's statement unchanged.

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
    IF kid IS NOT NULL THEN
        INSERT INTO audit_log (id, at, actor_id, action, target_type, target_id, details, key_id, entry_mac)
        OVERRIDING SYSTEM VALUE
        SELECT e.id, ts, e.a, e.c, e.t, e.r, e.d, kid, audit_entry_mac(k, int8send(e.id), ts, e.a, e.c, e.t, e.r, e.d)
        FROM (SELECT nextval('audit_log_id_seq') AS id, a, c, t, r, d
              FROM unnest(p_actors, p_actions, p_target_types, p_target_ids, p_details) AS u(a, c, t, r, d)) AS e;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
    END IF;
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
