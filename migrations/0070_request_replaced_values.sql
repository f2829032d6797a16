-- A committed profile change's audit entry keeps each value it replaced
-- (details->'changes'->attr->'old'): the request page shows a list
-- attribute's values before and after from it. Only those entries are
-- indexed, so that the writes of every other audit entry cost nothing more.
CREATE INDEX audit_log_request_commits ON audit_log (target_id)
    WHERE target_type = 'request' AND action = 'request_committed';
