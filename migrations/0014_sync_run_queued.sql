-- A run an administrator starts from the admin pages is queued: its row is
-- written with its River job in one transaction, so the run page shows it
-- from the first moment, whichever process (a web-only one included)
-- queued it and whichever worker runs it.
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_status_check;
ALTER TABLE sync_runs ADD CONSTRAINT sync_runs_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'completed_with_errors', 'failed', 'stopped'));
