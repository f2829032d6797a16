-- A sync run's message and the detail of each object it lists are read by
-- administrators in their own language: they are kept as their English
-- format and arguments too (portal.Text as JSON), beside the English text
-- that the command line and older rows have. NULL: a row written before,
-- shown as its English text.
ALTER TABLE sync_runs ADD COLUMN message_text jsonb;
ALTER TABLE sync_run_objects ADD COLUMN detail_text jsonb;
