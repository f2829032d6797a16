-- An HR upload keeps the changes its preview found and the connector space
-- they were found against (the HR system's last import run): applying it
-- then needs no second read and comparison of the whole file and space
-- when nothing was imported in between (syncsvc/hr/storedplan.go).
ALTER TABLE hr_uploads ADD COLUMN plan jsonb, ADD COLUMN space_run bigint;
