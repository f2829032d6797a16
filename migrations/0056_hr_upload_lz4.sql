-- An HR file is kept with its upload (a preview is re-read from it, and an
-- application compares it again when the space moved since). A daily file
-- of 100,000 rows is about 9 MB: pglz, the default, took a quarter of a
-- second to compress it on receipt and as long again to read it back; lz4
-- does both many times faster. A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE hr_uploads ALTER COLUMN content SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END $$;
