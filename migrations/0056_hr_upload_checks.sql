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

-- What a preview checked its rows against (the attribute limits of every
-- other system and the extra attributes' definitions), as a digest: an
-- application takes the preview's staging as it is only when they are
-- still the same (syncsvc/hr/service.go stagedFor); otherwise the file is
-- checked and compared again.
ALTER TABLE hr_uploads ADD COLUMN staged_checks bytea;
