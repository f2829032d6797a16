-- Graph's write quota (3,000 writes per 2 min 30 s) is per app and tenant,
-- whichever process sends the writes. Each process's Entra ID write
-- governor counts its writes here, where every process sharing the
-- database sees them, so that together they keep within the budget
-- (syncsvc/entra/ledger.go). A write is counted from the moment it is let
-- go until one window after its answer came back; rows that left every
-- window are deleted as new ones are written.
CREATE TABLE entra_write_budgets (
    -- the app and tenant: authority|tenant ID|client ID, lower case
    key          text PRIMARY KEY,
    -- a Retry-After Graph told any process: no write before it
    paused_until timestamptz NOT NULL DEFAULT '-infinity'
);

CREATE TABLE entra_writes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key         text NOT NULL REFERENCES entra_write_budgets (key) ON DELETE CASCADE,
    n           integer NOT NULL CHECK (n > 0),
    sent_at     timestamptz NOT NULL,
    answered_at timestamptz
);
CREATE INDEX entra_writes_key ON entra_writes (key, id);

-- entra_take_writes takes room for n writes of key in the window, in one
-- round trip: when the writes counted there (in flight, or answered less
-- than a window ago; a write in flight longer than in_flight counts as
-- answered then) leave room for them under lim, or when the window holds
-- none. It returns the row to mark answered (taken), or how many seconds
-- to wait before asking again (wait): until a Retry-After passes, or until
-- enough answered writes leave the window; 0 when only writes still in
-- flight fill it (they leave no sooner than a window after their answer).
CREATE FUNCTION entra_take_writes(p_key text, p_n integer, p_limit integer, p_window float8, p_in_flight float8,
        OUT taken bigint, OUT wait float8) LANGUAGE plpgsql AS $$
DECLARE
    paused timestamptz;
    used   bigint;
    need   bigint;
    r      record;
BEGIN
    -- The budget's row serialises the processes taking room in it.
    SELECT paused_until INTO paused FROM entra_write_budgets WHERE key = p_key FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO entra_write_budgets (key) VALUES (p_key) ON CONFLICT DO NOTHING;
        SELECT paused_until INTO paused FROM entra_write_budgets WHERE key = p_key FOR UPDATE;
    END IF;
    IF paused > clock_timestamp() THEN
        wait := extract(epoch FROM paused - clock_timestamp());
        RETURN;
    END IF;
    DELETE FROM entra_writes WHERE key = p_key
        AND coalesce(answered_at, sent_at + make_interval(secs => p_in_flight)) < clock_timestamp() - make_interval(secs => p_window);
    SELECT coalesce(sum(n), 0) INTO used FROM entra_writes WHERE key = p_key;
    IF used = 0 OR used + p_n <= p_limit THEN
        INSERT INTO entra_writes (key, n, sent_at) VALUES (p_key, p_n, clock_timestamp()) RETURNING id INTO taken;
        RETURN;
    END IF;
    need := used + p_n - p_limit;
    wait := 0;
    FOR r IN SELECT n, coalesce(answered_at, sent_at + make_interval(secs => p_in_flight)) AS ended FROM entra_writes
            WHERE key = p_key AND coalesce(answered_at, sent_at + make_interval(secs => p_in_flight)) <= clock_timestamp()
            ORDER BY 2 LOOP
        need := need - r.n;
        IF need <= 0 THEN
            wait := greatest(extract(epoch FROM r.ended + make_interval(secs => p_window) - clock_timestamp()), 0.001);
            RETURN;
        END IF;
    END LOOP;
END $$;
