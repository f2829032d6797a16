-- An audit writer checks the log's key once a session, not at every append.
--
-- audit_append and audit_append_many refuse a session whose key is not the
-- log's (a keyed log stays keyed with its key). They read the log's key at
-- every call (audit_log_key: the newest entry, by a backward scan of the
-- primary key over the entries still being written and chained): in the
-- request pipeline that read cost about a fifth of each append (4,000
-- calls, 0.54 s in BenchmarkRequestPipelineOneByOne, each request's
-- submission and decision appending once each).
--
-- Once a session has found the log keyed with its own key, the log cannot
-- become keyed with another: every other key is refused by this very
-- check, and entries are never deleted. So the session remembers it (the
-- setting tessera.audit_log_keyed, the key's ID in hex, set for the
-- session; a transaction that rolls back forgets it too) and checks no
-- more. An unkeyed log is never remembered: a keyed writer may key it at
-- any time, after which an unkeyed session must be refused.

-- Wait for appends in flight, as 0022 does.
SELECT pg_advisory_xact_lock(7261126002);

CREATE FUNCTION audit_check_log_key(p_kid bytea) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    log_kid bytea;
BEGIN
    IF p_kid IS NOT NULL AND current_setting('tessera.audit_log_keyed', true) = encode(p_kid, 'hex') THEN
        RETURN;
    END IF;
    log_kid := audit_log_key();
    -- A keyed log stays keyed with its key: a process without the key (or
    -- with another) would leave entries verification has to call forged.
    IF log_kid IS NOT NULL AND p_kid IS DISTINCT FROM log_kid THEN
        RAISE EXCEPTION 'the audit log is keyed with key %, and this session has %: every Tessera process needs the same TESSERA_SECRET_KEY',
            encode(log_kid, 'hex'), coalesce(encode(p_kid, 'hex'), 'none');
    END IF;
    IF log_kid IS NOT NULL THEN
        PERFORM set_config('tessera.audit_log_keyed', encode(p_kid, 'hex'), false);
    END IF;
END $$;

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
    END IF;
    PERFORM audit_check_log_key(kid);
    -- Shared, and before the id is taken (0022_audit_sequencer.sql).
    PERFORM pg_advisory_xact_lock_shared(7261126002);
    new_id := nextval('audit_log_id_seq');
    ts := date_trunc('milliseconds', clock_timestamp());
    INSERT INTO audit_log (id, at, actor_id, action, target_type, target_id, details, key_id, entry_mac)
    OVERRIDING SYSTEM VALUE
    VALUES (new_id, ts, p_actor, p_action, p_target_type, p_target_id, p_details, kid,
            audit_entry_mac(k, int8send(new_id), ts, p_actor, p_action, p_target_type, p_target_id, p_details));
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
    END IF;
    PERFORM audit_check_log_key(kid);
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
