-- Budgets of failed password sign-ins, shared by every web process. Each row
-- is a token bucket: tokens left as of updated_at, refilling with time (the
-- burst and the refill rate are constants in Go, portal.SignInBurst and
-- portal.SignInRefill). A missing row is a full budget, so a row whose
-- budget has refilled is deleted without changing anything.
--
-- key is 'addr:<address or IPv6 /64>', 'name:<hash of the account name>',
-- 'person:<id>' or 'device:<device>:<person id>'.
--
-- UNLOGGED: budgets last minutes and are not worth WAL on every sign-in; a
-- crash or a failover to a standby starts them full again.
CREATE UNLOGGED TABLE signin_budgets (
    key        text PRIMARY KEY,
    tokens     double precision NOT NULL,
    updated_at timestamptz NOT NULL,
    -- refused_at marks the budget's first refusal since it ran out, so that
    -- one refusal per lockout is audited, not every one of a flood.
    refused_at timestamptz
);
-- Sweeping refilled budgets reads the oldest first.
CREATE INDEX signin_budgets_updated ON signin_budgets (updated_at);
