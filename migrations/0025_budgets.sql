-- Every guessing budget in one table: besides password sign-ins, the reset
-- flow's gates ('reset:...'), authenticator codes ('totp:<person>'),
-- security answers ('questions:<person>') and passkey assertions
-- ('passkey:...'), each kind at its own rate (portal.Budget). Each row
-- keeps the burst and refill it was spent under, so that one sweep finds
-- the refilled rows of every kind.
ALTER TABLE signin_budgets
    ADD COLUMN burst          double precision NOT NULL DEFAULT 10,
    ADD COLUMN refill_seconds double precision NOT NULL DEFAULT 6 CHECK (refill_seconds > 0);
UPDATE signin_budgets b SET burst = s.lockout_attempts, refill_seconds = s.lockout_minutes * 60
    FROM password_settings s WHERE b.key LIKE 'reset:%';

-- Wrong authenticator codes and security answers were counted in a
-- sliding window here, which blocked all tries until the window passed;
-- they are token buckets in signin_budgets now.
DROP TABLE method_failures;
