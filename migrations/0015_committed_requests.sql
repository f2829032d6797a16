-- The committed membership requests of a group: a sync that exports the
-- group's members links every such request whose member the export adds
-- or removes (syncsvc linkRequests), whichever request's sync computed it.
-- (That statement reads the members out of cs_objects.export_changes,
-- which is otherwise written and read whole.)
CREATE INDEX requests_committed ON requests (group_id, person_id) WHERE status = 'committed';
