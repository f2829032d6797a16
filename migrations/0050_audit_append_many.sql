-- Several audit entries appended by one call.
--
-- A statement that records many requests (a bulk decision: an approval
-- entry and a commit entry for each of up to a hundred requests) called
-- audit_append once per entry: each call a plpgsql call of its own that
-- read the log's key (audit_log_key, a query), took the writers' lock and
-- ran its INSERT as a statement of its own. audit_append_many does the
-- checks and takes the lock once, and inserts the entries in one INSERT,
-- in the order of the arrays (unnest yields them so, and nextval numbers
-- them as they come). Each entry is exactly what audit_append would have
-- written: the same fields, the same entry_mac over its id, and all of
-- them at one time (the statement's, to the millisecond).

CREATE FUNCTION audit_append_many(p_actors uuid[], p_actions text[], p_target_types text[],
                                  p_target_ids text[], p_details jsonb[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    k       bytea := audit_session_key();
    kid     bytea;
    log_kid bytea := audit_log_key();
    ts      timestamptz;
    n       integer;
BEGIN
    IF k IS NOT NULL THEN
        kid := audit_key_id(k);
    END IF;
    -- As in audit_append: a keyed log stays keyed with its key.
    IF log_kid IS NOT NULL AND kid IS DISTINCT FROM log_kid THEN
        RAISE EXCEPTION 'the audit log is keyed with key %, and this session has %: every Tessera process needs the same TESSERA_SECRET_KEY',
            encode(log_kid, 'hex'), coalesce(encode(kid, 'hex'), 'none');
    END IF;
    -- Shared, and before the ids are taken (0022_audit_sequencer.sql).
    PERFORM pg_advisory_xact_lock_shared(7261126002);
    ts := date_trunc('milliseconds', clock_timestamp());
    INSERT INTO audit_log (id, at, actor_id, action, target_type, target_id, details, key_id, entry_mac)
    OVERRIDING SYSTEM VALUE
    SELECT e.id, ts, e.a, e.c, e.t, e.r, e.d, kid, audit_entry_mac(k, int8send(e.id), ts, e.a, e.c, e.t, e.r, e.d)
    FROM (SELECT nextval('audit_log_id_seq') AS id, a, c, t, r, d
          FROM unnest(p_actors, p_actions, p_target_types, p_target_ids, p_details) AS u(a, c, t, r, d)) AS e;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
