-- A keyed session's audit_append inserts its entry without the unkeyed
-- check in the statement, so that PostgreSQL plans that insert once a
-- session rather than at every call.
--
-- 0061 made the unkeyed check a condition of the INSERT, in one statement
-- for keyed and unkeyed sessions alike: WHERE kid IS NOT NULL OR (the
-- newest entry's and the tip's key) IS NULL, with the MAC's CASE on the
-- key. A plan made for a session's own key drops the check and the CASE's
-- other arm, so it always looked cheaper than the generic plan, and the
-- insert was planned afresh at every append: in BenchmarkPasswordReset
-- (its process has a key, as a deployment does) 1,200 plans for 1,200
-- appends, 0.27 ms of planning each, about as much as running them, and
-- three appends a reset. Now a keyed session runs an insert of its own,
-- with nothing to drop: the same row, the same MAC over the same bytes,
-- the id taken after the same lock. An unkeyed session runs 0061's
-- statement unchanged (its plan was already made once a session).
-- audit_append_many is left as it is here: 0071, written after this file
-- in a number left free, does the same for it.

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
    IF kid IS NOT NULL THEN
        new_id := nextval('audit_log_id_seq');
        INSERT INTO audit_log (id, at, actor_id, action, target_type, target_id, details, key_id, entry_mac)
        OVERRIDING SYSTEM VALUE
        VALUES (new_id, ts, p_actor, p_action, p_target_type, p_target_id, p_details, kid,
                audit_entry_mac(k, int8send(new_id), ts, p_actor, p_action, p_target_type, p_target_id, p_details));
        RETURN new_id;
    END IF;
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
