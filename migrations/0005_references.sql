-- Foreign keys that had to wait for their tables (calendars in 0004, sets
-- in 0003), and indexes for the administrator's audit log filters.
ALTER TABLE approval_workflows ADD CONSTRAINT approval_workflows_calendar_id_fkey
    FOREIGN KEY (calendar_id) REFERENCES holiday_calendars (id) ON DELETE RESTRICT;
ALTER TABLE approval_workflows ADD CONSTRAINT approval_workflows_approver_set_id_fkey
    FOREIGN KEY (approver_set_id) REFERENCES sets (id) ON DELETE RESTRICT;
ALTER TABLE policies ADD CONSTRAINT policies_requestor_set_id_fkey
    FOREIGN KEY (requestor_set_id) REFERENCES sets (id) ON DELETE RESTRICT;

CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);
