-- No statistics on a connector space object's attributes: no statement
-- filters on the column itself (only on values inside it, such as
-- attributes->'member', which its statistics do not describe), yet
-- sorting a sample of 30,000 JSON objects for them took most of each
-- ANALYZE of cs_objects, which a first HR file of 100,000 rows runs
-- after its import (syncsvc/pushsync.go) and autovacuum runs after it.
ALTER TABLE cs_objects ALTER COLUMN attributes SET STATISTICS 0;
