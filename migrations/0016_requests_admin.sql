-- Administration → Requests lists every request newest first, or those of
-- one status (a failed one, a stuck one) newest first.
CREATE INDEX requests_created ON requests (created_at DESC, id);
CREATE INDEX requests_status_created ON requests (status, created_at DESC, id);
