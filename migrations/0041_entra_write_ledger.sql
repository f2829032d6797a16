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
