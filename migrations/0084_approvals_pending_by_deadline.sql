-- The pending approvals by deadline: FireTimers (every minute) finds the
-- approvals whose first timer is due by it, now that an approval has no
-- job of its own for that timer (each was a River job inserted with every
-- request, its row and seven indexes, two of them GIN). It replaces the
-- index on status alone, which served only "status = 'pending'": this one
-- serves that too, and costs as much to keep.
DROP INDEX approvals_pending;
CREATE INDEX approvals_pending ON approvals (deadline) WHERE status = 'pending';
