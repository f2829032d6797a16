-- Holiday calendars for business-day deadlines, and a tamper-evident audit
-- log: a tip that remembers the newest entry, and triggers that make the log
-- append-only.

-- Wait for appends in flight (audit_append takes this lock), so that the tip
-- below is the true end of the chain.
SELECT pg_advisory_xact_lock(7261126002);

-- audit_entry_hash is the one definition of an entry's hash, used both to
-- append (audit_append) and to verify (tessera audit verify). It is the
-- expression of 0001_people_groups.sql unchanged, so older entries verify.
CREATE FUNCTION audit_entry_hash(p_prev bytea, p_at timestamptz, p_actor uuid, p_action text,
                                 p_target_type text, p_target_id text, p_details jsonb) RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT sha256(coalesce(p_prev, ''::bytea) || convert_to(concat_ws(E'\x1f',
          (extract(epoch FROM p_at) * 1000)::bigint, p_actor, p_action,
          p_target_type, p_target_id, p_details::text), 'UTF8')) $$;

-- audit_tip holds the id and hash of the newest entry. Deleting the last
-- entries leaves the rest of the chain whole; only the tip shows they were
-- there. New entries chain to the tip, not to the last row, so a deletion
-- stays visible after later appends.
CREATE TABLE audit_tip (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    id       bigint NOT NULL CHECK (id >= 0), -- 0: no entry yet
    hash     bytea
);
INSERT INTO audit_tip (id, hash)
SELECT coalesce(max(id), 0), (SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1) FROM audit_log;

CREATE OR REPLACE FUNCTION audit_append(p_actor uuid, p_action text, p_target_type text,
                                        p_target_id text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    prev   bytea;
    ts     timestamptz := date_trunc('milliseconds', clock_timestamp());
    h      bytea;
    new_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7261126002);
    SELECT hash INTO prev FROM audit_tip;
    h := audit_entry_hash(prev, ts, p_actor, p_action, p_target_type, p_target_id, p_details);
    INSERT INTO audit_log (at, actor_id, action, target_type, target_id, details, prev_hash, hash)
    VALUES (ts, p_actor, p_action, p_target_type, p_target_id, p_details, prev, h)
    RETURNING id INTO new_id;
    -- A missing tip (someone deleted it) is recreated; the entry above then
    -- has no prev_hash, which verification reports.
    INSERT INTO audit_tip (id, hash) VALUES (new_id, h)
    ON CONFLICT (only_row) DO UPDATE SET id = excluded.id, hash = excluded.hash;
    RETURN new_id;
END $$;

-- audit_refuse_change keeps the log append-only for every role that cannot
-- disable triggers (the table owner and superusers can; verification is what
-- catches them).
CREATE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
-- The tip only moves forward, and is never removed.
CREATE TRIGGER audit_tip_no_delete BEFORE DELETE OR TRUNCATE ON audit_tip
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_tip_forward_only BEFORE UPDATE ON audit_tip
    FOR EACH ROW WHEN (NEW.id <= OLD.id) EXECUTE FUNCTION audit_refuse_change();

-- holiday_calendars say which days count for deadlines in business days:
-- the time zone days are counted in, the weekend (0 = Sunday … 6 = Saturday,
-- as Go's time.Weekday and extract(dow)), and the holidays below.
CREATE TABLE holiday_calendars (
    id        uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    time_zone text NOT NULL CHECK (length(time_zone) BETWEEN 1 AND 64),
    weekend   smallint[] NOT NULL DEFAULT '{0,6}'
              CHECK (weekend <@ '{0,1,2,3,4,5,6}' AND cardinality(weekend) < 7)
);
CREATE UNIQUE INDEX holiday_calendars_name_key ON holiday_calendars (lower(name));

CREATE TABLE calendar_holidays (
    calendar_id uuid NOT NULL REFERENCES holiday_calendars (id) ON DELETE CASCADE,
    day         date NOT NULL CHECK (day BETWEEN '0001-01-01' AND '9999-12-31'),
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 100),
    PRIMARY KEY (calendar_id, day)
);
