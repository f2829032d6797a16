-- A source that pushes whole files (HR) keeps, with each connector space
-- object, the digest of the row it last imported into it: a row of the
-- next file with the same digest changes nothing and is not compared
-- again (syncsvc/hr/stage.go). NULL: no row's digest (an object changed
-- since by something else, such as a date's timer), so the row is
-- compared.
ALTER TABLE cs_objects ADD COLUMN source_digest bytea;

-- Migration 0033's kept plan is no longer written.
ALTER TABLE hr_uploads DROP COLUMN IF EXISTS plan, DROP COLUMN IF EXISTS space_run;

-- A file's preview stages the objects its application imports; they are
-- kept with the upload (hr_upload_objects) with the version of the HR
-- connector space they were compared with (hr_sources.space_version, one
-- more at each import into it and each change of the settings) and the
-- organisation's day (which decides who is active). Applying the upload
-- takes them as they are when both still hold, and compares the file
-- again otherwise.
ALTER TABLE hr_sources ADD COLUMN space_version bigint NOT NULL DEFAULT 0;
ALTER TABLE hr_uploads ADD COLUMN staged_version bigint, ADD COLUMN staged_day date;
CREATE TABLE hr_upload_objects (
    upload_id bigint NOT NULL REFERENCES hr_uploads (id) ON DELETE CASCADE,
    anchor    text NOT NULL,
    attrs     jsonb,
    digest    bytea
);
CREATE INDEX hr_upload_objects_upload ON hr_upload_objects (upload_id);

-- A person HR makes a leaver loses the groups people gave them (not those
-- rules compute); the groups are kept here until HR brings the same
-- person back (a rehire), when they are listed for the manager rather
-- than restored silently (syncsvc/hr/team.go).
CREATE TABLE hr_leavers (
    person_id uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    left_at   timestamptz NOT NULL DEFAULT now(),
    group_ids uuid[] NOT NULL DEFAULT '{}'
);

-- What a manager is told about one of their people: a rehire with their
-- former groups, or a mover (a new department or manager) with the groups
-- owners approved for them, to review. Written with the import that makes
-- the change; delivered (to_manager_id set, mails queued) once the sync
-- has set the person's new manager. A mover's old manager is told too.
CREATE TABLE team_notices (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id       uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('rehired', 'moved')),
    from_manager_id uuid REFERENCES people (id) ON DELETE SET NULL,
    to_manager_id   uuid REFERENCES people (id) ON DELETE SET NULL,
    group_ids       uuid[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX team_notices_undelivered ON team_notices (id) WHERE delivered_at IS NULL;
CREATE INDEX team_notices_to ON team_notices (to_manager_id, id DESC);
CREATE INDEX team_notices_from ON team_notices (from_manager_id, id DESC);

-- The runs that carried an upload's people to the other systems, for the
-- upload's page to say what they could not take.
ALTER TABLE hr_uploads ADD COLUMN export_runs bigint[] NOT NULL DEFAULT '{}';
