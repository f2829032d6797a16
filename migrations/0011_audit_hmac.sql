-- The audit chain keyed with an HMAC whose key is not in the database.
--
-- Each Tessera connection brings the chain key (derived from
-- TESSERA_SECRET_KEY) as the session setting tessera.audit_key, in hex; it
-- is never stored in a table. An entry appended by a session with the key is
-- hashed with HMAC-SHA-256 under it and records the key's ID; without a key
-- an entry is hashed with plain SHA-256, as before, and its key_id is NULL.
--
-- Entries written before this migration (and by Tessera without a key) stay
-- as they are: the chain may begin with unkeyed entries, and verification
-- says how many. Once an entry is keyed, every later one must be keyed with
-- the same key: audit_append refuses otherwise, and verification reports an
-- unkeyed entry after a keyed one as forged.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- Wait for appends in flight, as 0004 does.
SELECT pg_advisory_xact_lock(7261126002);

ALTER TABLE audit_log ADD COLUMN key_id bytea;
ALTER TABLE audit_tip ADD COLUMN key_id bytea;

-- audit_session_key is this session's chain key, or NULL.
CREATE FUNCTION audit_session_key() RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT decode(nullif(current_setting('tessera.audit_key', true), ''), 'hex') $$;

-- audit_key_id names a key without revealing it (portal.AuditKey.ID).
CREATE FUNCTION audit_key_id(p_key bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT substring(sha256(p_key) FROM 1 FOR 8) $$;

-- audit_entry_mac is an entry's hash: over the same bytes as
-- audit_entry_hash, HMAC-SHA-256 under p_key, or plain SHA-256 when p_key
-- is NULL (then it equals audit_entry_hash, so older entries verify).
CREATE FUNCTION audit_entry_mac(p_key bytea, p_prev bytea, p_at timestamptz, p_actor uuid, p_action text,
                                p_target_type text, p_target_id text, p_details jsonb) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN p_key IS NULL THEN sha256(m) ELSE hmac(m, p_key, 'sha256') END
      FROM (SELECT coalesce(p_prev, ''::bytea) || convert_to(concat_ws(E'\x1f',
          (extract(epoch FROM p_at) * 1000)::bigint, p_actor, p_action,
          p_target_type, p_target_id, p_details::text), 'UTF8') AS m) s $$;

CREATE OR REPLACE FUNCTION audit_append(p_actor uuid, p_action text, p_target_type text,
                                        p_target_id text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    k        bytea := audit_session_key();
    kid      bytea;
    prev     bytea;
    prev_kid bytea;
    ts       timestamptz := date_trunc('milliseconds', clock_timestamp());
    h        bytea;
    new_id   bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7261126002);
    SELECT hash, key_id INTO prev, prev_kid FROM audit_tip;
    IF k IS NOT NULL THEN
        kid := audit_key_id(k);
    END IF;
    -- A keyed log stays keyed with its key: a process without the key (or
    -- with another) would leave entries verification has to call forged.
    IF prev_kid IS NOT NULL AND kid IS DISTINCT FROM prev_kid THEN
        RAISE EXCEPTION 'the audit log is keyed with key %, and this session has %: every Tessera process needs the same TESSERA_SECRET_KEY',
            encode(prev_kid, 'hex'), coalesce(encode(kid, 'hex'), 'none');
    END IF;
    h := audit_entry_mac(k, prev, ts, p_actor, p_action, p_target_type, p_target_id, p_details);
    INSERT INTO audit_log (at, actor_id, action, target_type, target_id, details, prev_hash, hash, key_id)
    VALUES (ts, p_actor, p_action, p_target_type, p_target_id, p_details, prev, h, kid)
    RETURNING id INTO new_id;
    INSERT INTO audit_tip (id, hash, key_id) VALUES (new_id, h, kid)
    ON CONFLICT (only_row) DO UPDATE SET id = excluded.id, hash = excluded.hash, key_id = excluded.key_id;
    RETURN new_id;
END $$;
