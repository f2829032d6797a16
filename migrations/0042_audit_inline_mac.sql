-- An audit entry's MAC computed inside the statement that needs it.
--
-- audit_entry_mac was a SQL function with a FROM clause, which PostgreSQL
-- cannot inline: every statement that called it (audit_append's INSERT,
-- run once per entry) parsed and planned the function's body afresh, as a
-- SQL function's plan lives only as long as the calling statement. That
-- planning cost about ten times the HMAC itself, and was most of the
-- request pipeline's audit cost. Written as one expression without FROM,
-- the function is inlined into the calling statement's plan, which
-- plpgsql and prepared statements keep; the bytes hashed and the hash are
-- exactly as before (TestAuditHashFormat pins them).
--
-- audit_log_key, which reads tables and so cannot be inlined, becomes
-- plpgsql, whose plans a session keeps, for the same reason.

-- audit_entry_message is the bytes an entry's hash covers: the previous
-- hash (or, while the entry waits to be chained, its id), then the fields
-- joined by U+001F.
CREATE FUNCTION audit_entry_message(p_prev bytea, p_at timestamptz, p_actor uuid, p_action text,
                                    p_target_type text, p_target_id text, p_details jsonb) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(p_prev, ''::bytea) || convert_to(concat_ws(E'\x1f',
          (extract(epoch FROM p_at) * 1000)::bigint, p_actor, p_action,
          p_target_type, p_target_id, p_details::text), 'UTF8') $$;

CREATE OR REPLACE FUNCTION audit_entry_mac(p_key bytea, p_prev bytea, p_at timestamptz, p_actor uuid, p_action text,
                                           p_target_type text, p_target_id text, p_details jsonb) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN p_key IS NULL
          THEN sha256(audit_entry_message(p_prev, p_at, p_actor, p_action, p_target_type, p_target_id, p_details))
          ELSE hmac(audit_entry_message(p_prev, p_at, p_actor, p_action, p_target_type, p_target_id, p_details), p_key, 'sha256')
      END $$;

CREATE OR REPLACE FUNCTION audit_log_key() RETURNS bytea
LANGUAGE plpgsql STABLE AS $$
DECLARE
    waiting boolean;
    kid     bytea;
BEGIN
    SELECT hash IS NULL, key_id INTO waiting, kid FROM audit_log ORDER BY id DESC LIMIT 1;
    IF waiting THEN
        RETURN kid;
    END IF;
    RETURN (SELECT key_id FROM audit_tip);
END $$;
