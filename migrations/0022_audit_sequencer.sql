-- The audit chain without a lock that every writer waits for.
--
-- Until now audit_append took one advisory lock for the rest of the
-- writer's transaction, so every transaction that wrote an audit entry
-- waited for the previous one to commit (its WAL flush included): with
-- several processes the chain lock was the whole database's bottleneck.
--
-- Now a writer only appends its entry, unchained (prev_hash and hash NULL),
-- with entry_mac: the entry's own MAC over its id and fields, under the
-- writer's chain key (plain SHA-256 without one), so that an entry cannot be
-- changed, moved or forged without the key while it waits. One sequencer at
-- a time (audit_chain, run by every worker every few hundred milliseconds,
-- and by verification and the checkpoint job before they read the tip)
-- checks each waiting entry's MAC and links it into the chain in id order,
-- with the same hash as before (audit_entry_mac over the previous hash and
-- the fields), and moves audit_tip. Verification walks the chain as before
-- and checks the entries still waiting by their entry_mac.
--
-- The chain is in id order, yet ids are taken before commit, so entry 8 may
-- commit while entry 7's transaction still runs. A writer therefore holds
-- the advisory lock 7261126002 *shared* (writers never wait for each other)
-- from before it takes its id until it ends; the sequencer reads the id
-- sequence, then which transactions hold that lock, and links up to that
-- id only once all of them have ended (the lock is released only after the
-- commit is visible). Migrations take the lock exclusively to wait for
-- appends in flight, as before.

-- Wait for appends in flight, as 0004 and 0011 do.
SELECT pg_advisory_xact_lock(7261126002);

ALTER TABLE audit_log ALTER COLUMN hash DROP NOT NULL;
ALTER TABLE audit_log ADD COLUMN entry_mac bytea;
-- Room on each page for the sequencer's update of the row beside it, so
-- that it stays a heap-only update (no index entries to add).
ALTER TABLE audit_log SET (fillfactor = 85);

-- audit_log_key is the ID of the key the log is written with (NULL while it
-- is unkeyed): the newest entry's while it waits to be chained, the tip's
-- once it is.
CREATE FUNCTION audit_log_key() RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN l.waiting THEN l.key_id ELSE (SELECT key_id FROM audit_tip) END
    FROM (SELECT true) AS one(x)
    LEFT JOIN LATERAL (SELECT hash IS NULL AS waiting, key_id FROM audit_log ORDER BY id DESC LIMIT 1) AS l ON true $$;

CREATE OR REPLACE FUNCTION audit_append(p_actor uuid, p_action text, p_target_type text,
                                        p_target_id text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    k       bytea := audit_session_key();
    kid     bytea;
    log_kid bytea := audit_log_key();
    ts      timestamptz;
    new_id  bigint;
BEGIN
    IF k IS NOT NULL THEN
        kid := audit_key_id(k);
    END IF;
    -- A keyed log stays keyed with its key: a process without the key (or
    -- with another) would leave entries verification has to call forged.
    IF log_kid IS NOT NULL AND kid IS DISTINCT FROM log_kid THEN
        RAISE EXCEPTION 'the audit log is keyed with key %, and this session has %: every Tessera process needs the same TESSERA_SECRET_KEY',
            encode(log_kid, 'hex'), coalesce(encode(kid, 'hex'), 'none');
    END IF;
    -- Shared, and before the id is taken: see the top of this file.
    PERFORM pg_advisory_xact_lock_shared(7261126002);
    new_id := nextval('audit_log_id_seq');
    ts := date_trunc('milliseconds', clock_timestamp());
    INSERT INTO audit_log (id, at, actor_id, action, target_type, target_id, details, key_id, entry_mac)
    OVERRIDING SYSTEM VALUE
    VALUES (new_id, ts, p_actor, p_action, p_target_type, p_target_id, p_details, kid,
            audit_entry_mac(k, int8send(new_id), ts, p_actor, p_action, p_target_type, p_target_id, p_details));
    RETURN new_id;
END $$;

-- audit_chain links the entries waiting to be chained, up to entry p_upto,
-- in id order, and moves the tip. p_upto is an id below which no writer is
-- still running (the caller knows it from the lock above). It stops at the
-- first entry it cannot link and says why: an entry whose MAC does not match
-- (changed or forged while it waited), keyed with another key than this
-- session's, or unkeyed in a keyed log; or a deleted tip. Verification
-- reports each of those. One sequencer at a time: 7261126003; with p_wait
-- false, a sequencer that finds another at work leaves it to it (linked 0).
CREATE FUNCTION audit_chain(p_upto bigint, p_wait boolean, OUT linked integer, OUT stopped_at bigint, OUT reason text)
LANGUAGE plpgsql AS $$
DECLARE
    k        bytea := audit_session_key();
    kid      bytea;
    tip_id   bigint;
    prev     bytea;
    prev_kid bytea;
    ek       bytea;
    h        bytea;
    r        record;
    ids      bigint[] := '{}';
    prevs    bytea[] := '{}';
    hashes   bytea[] := '{}';
BEGIN
    linked := 0;
    IF p_wait THEN
        PERFORM pg_advisory_xact_lock(7261126003);
    ELSIF NOT pg_try_advisory_xact_lock(7261126003) THEN
        RETURN;
    END IF;
    SELECT id, hash, key_id INTO tip_id, prev, prev_kid FROM audit_tip FOR UPDATE;
    IF NOT FOUND THEN
        reason := 'the audit tip was deleted';
        RETURN;
    END IF;
    IF k IS NOT NULL THEN
        kid := audit_key_id(k);
    END IF;
    FOR r IN SELECT id, at, actor_id, action, target_type, target_id, details, key_id, entry_mac
             FROM audit_log WHERE id > tip_id AND id <= p_upto AND hash IS NULL ORDER BY id LOOP
        IF prev_kid IS NOT NULL AND r.key_id IS DISTINCT FROM prev_kid THEN
            reason := format('entry %s is keyed with key %s, yet the log is keyed with key %s', r.id,
                             coalesce(encode(r.key_id, 'hex'), 'none'), encode(prev_kid, 'hex'));
        ELSIF r.key_id IS NOT NULL AND r.key_id IS DISTINCT FROM kid THEN
            reason := format('entry %s is keyed with key %s, and this session has %s', r.id,
                             encode(r.key_id, 'hex'), coalesce(encode(kid, 'hex'), 'none'));
        END IF;
        ek := CASE WHEN r.key_id IS NOT NULL THEN k END;
        IF reason IS NULL AND r.entry_mac IS DISTINCT FROM audit_entry_mac(ek, int8send(r.id), r.at, r.actor_id,
                                                     r.action, r.target_type, r.target_id, r.details) THEN
            reason := format('entry %s was changed or forged before it was chained', r.id);
        END IF;
        IF reason IS NOT NULL THEN
            stopped_at := r.id;
            EXIT;
        END IF;
        h := audit_entry_mac(ek, prev, r.at, r.actor_id, r.action, r.target_type, r.target_id, r.details);
        ids := ids || r.id;
        prevs := prevs || prev;
        hashes := hashes || h;
        prev := h;
        prev_kid := r.key_id;
        tip_id := r.id;
        linked := linked + 1;
    END LOOP;
    IF linked > 0 THEN
        -- One statement for them all: most of a link's cost was the
        -- statement of its own.
        UPDATE audit_log a SET prev_hash = u.p, hash = u.h
        FROM unnest(ids, prevs, hashes) AS u(id, p, h) WHERE a.id = u.id;
        UPDATE audit_tip SET id = tip_id, hash = prev, key_id = prev_kid;
    END IF;
END $$;

-- audit_log_guard keeps the log append-only, except for the one change the
-- sequencer makes: giving a waiting entry its place in the chain.
CREATE FUNCTION audit_log_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.hash IS NULL AND NEW.hash IS NOT NULL
       AND (NEW.id, NEW.at, NEW.actor_id, NEW.action, NEW.target_type, NEW.target_id, NEW.details, NEW.key_id, NEW.entry_mac)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at, OLD.actor_id, OLD.action, OLD.target_type, OLD.target_id, OLD.details, OLD.key_id, OLD.entry_mac) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

DROP TRIGGER audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_guard();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
