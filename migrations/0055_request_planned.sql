-- Whether a committed request's sync_export job has planned its change for
-- every connected system. Until it has, the request waits, even when no
-- export holds it any more: a scheduled cycle of one system may carry and
-- confirm the change before the job has linked it to the others, and the
-- request would complete before they had it. Committing sets it false;
-- the job sets it true once every system planned. True for everything
-- else (rows from before, requests that never wait for a job).
ALTER TABLE requests ADD COLUMN planned boolean NOT NULL DEFAULT true;
