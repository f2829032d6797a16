-- The sync service: per connected system its sync rules, its connector
-- space (the last known state of each of its objects, joined to a person or
-- group), pending exports, and run history.

ALTER TABLE connected_systems
    ADD COLUMN staging            boolean NOT NULL DEFAULT false,
    ADD COLUMN deletion_threshold integer NOT NULL DEFAULT 500 CHECK (deletion_threshold BETWEEN 0 AND 1000000),
    ADD COLUMN delta_interval     integer NOT NULL DEFAULT 300 CHECK (delta_interval BETWEEN 0 AND 86400), -- seconds; 0: no schedule
    ADD COLUMN watermark          bytea,            -- the delta import's cookie
    ADD COLUMN last_cycle_at      timestamptz,
    ADD COLUMN reachable          boolean NOT NULL DEFAULT true,
    ADD COLUMN last_error         text NOT NULL DEFAULT '',
    ADD COLUMN last_error_at      timestamptz;

-- One sync rule per connected system and object class. Flows and join
-- rules are JSON arrays the engine validates and compiles on save.
CREATE TABLE sync_rules (
    system_id          uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    class              text NOT NULL CHECK (class IN ('user', 'group')),
    scope              text NOT NULL DEFAULT '' CHECK (length(scope) <= 4096),
    join_rules         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(join_rules) = 'array'),
    projection         boolean NOT NULL DEFAULT false,
    inbound            jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(inbound) = 'array'),
    outbound           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(outbound) = 'array'),
    provision          boolean NOT NULL DEFAULT false,
    dn_template        text NOT NULL DEFAULT '' CHECK (length(dn_template) <= 2048),
    initial_password   text NOT NULL DEFAULT 'none' CHECK (initial_password IN ('none', 'random')),
    enable_on_create   boolean NOT NULL DEFAULT false,
    deprovision        text NOT NULL DEFAULT 'none' CHECK (deprovision IN ('none', 'disable', 'delete')),
    deprovision_ou     text NOT NULL DEFAULT '' CHECK (length(deprovision_ou) <= 2048),
    delete_after_days  integer NOT NULL DEFAULT 0 CHECK (delete_after_days BETWEEN 0 AND 3650),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (system_id, class)
);

-- The connector space: one row per object, with its pending export (MIM
-- keeps the pending export on the connector space object too: one write
-- per object in a full sync). anchor is null for an object Tessera is
-- about to create. person_id and group_id have no foreign keys on purpose:
-- a join to a person who was deleted is how the engine learns to
-- deprovision their account.
CREATE TABLE cs_objects (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    system_id        uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    anchor           text,
    dn               text NOT NULL,
    class            text NOT NULL CHECK (class IN ('user', 'group')),
    attributes       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    person_id        uuid,
    group_id         uuid,
    join_error       text NOT NULL DEFAULT '',
    seen_run         bigint,                 -- the last full import that saw it
    imported_at      timestamptz,
    -- a delta import changed it: the next delta sync looks at it.
    pending_import   boolean NOT NULL DEFAULT false,
    -- the attributes (lower case) those imports changed: inbound flows
    -- take only these, so that an old value never undoes a newer change
    -- made in the portal.
    changed_attrs    text[] NOT NULL DEFAULT '{}',
    deprovisioned_at timestamptz,            -- disabled and moved out, awaiting deletion
    -- The pending export; export_op is null when there is none. A modify
    -- with export_new_dn renames (or moves) the object first.
    export_op           text CHECK (export_op IN ('add', 'modify', 'delete')),
    export_new_dn       text NOT NULL DEFAULT '',
    export_changes      json,  -- json, not jsonb: written whole, read whole, never queried into
    export_set_password boolean NOT NULL DEFAULT false,
    export_enable       boolean NOT NULL DEFAULT false,
    export_deprovision  boolean NOT NULL DEFAULT false, -- the object left the scope
    export_status       text NOT NULL DEFAULT 'pending' CHECK (export_status IN ('pending', 'error')),
    export_attempts     integer NOT NULL DEFAULT 0,
    export_error        text NOT NULL DEFAULT '',
    export_next_at      timestamptz,
    export_updated_at   timestamptz,
    CHECK (person_id IS NULL OR group_id IS NULL)
);
CREATE UNIQUE INDEX cs_objects_anchor ON cs_objects (system_id, anchor) WHERE anchor IS NOT NULL;
CREATE INDEX cs_objects_dn ON cs_objects (system_id, lower(dn));
CREATE UNIQUE INDEX cs_objects_person ON cs_objects (person_id, system_id) WHERE person_id IS NOT NULL;
CREATE UNIQUE INDEX cs_objects_group ON cs_objects (group_id, system_id) WHERE group_id IS NOT NULL;
CREATE INDEX cs_objects_pending_import ON cs_objects (system_id) WHERE pending_import;
-- No index on the pending export: export runs read a system's objects in
-- one pass, a request's export starts from export_requests, and an index
-- here would cost every provisioning add of a full sync.

-- The portal requests waiting for an object's export (sent_at null) or for
-- the import that confirms it (sent_at set).
CREATE TABLE export_requests (
    cs_id      bigint NOT NULL REFERENCES cs_objects (id) ON DELETE CASCADE,
    request_id uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
    system_id  uuid NOT NULL,
    sent_at    timestamptz,
    PRIMARY KEY (cs_id, request_id)
);
CREATE INDEX export_requests_request ON export_requests (request_id);
CREATE INDEX export_requests_sent ON export_requests (system_id, sent_at) WHERE sent_at IS NOT NULL;

-- complete_requests completes the requests among ids that wait for no
-- export any more, with their timeline entry and audit entry.
CREATE FUNCTION complete_requests(ids uuid[]) RETURNS void LANGUAGE sql AS $$
    WITH done AS (
        UPDATE requests r SET status = 'completed', updated_at = now()
        WHERE r.id = ANY(ids) AND r.status IN ('committed', 'failed')
        AND NOT EXISTS (SELECT 1 FROM export_requests e WHERE e.request_id = r.id)
        RETURNING r.id),
    e AS (INSERT INTO request_events (request_id, kind, detail) SELECT id, 'completed', '' FROM done)
    SELECT count(audit_append(NULL, 'request_completed', 'request', id::text, '{}')) FROM done;
$$;

-- However a request stops waiting for an export (confirmed, nothing left
-- to change, or its object deleted), it completes when nothing else holds
-- it: a statement trigger, so that no path can forget.
CREATE FUNCTION export_requests_released() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM complete_requests(ARRAY(SELECT DISTINCT request_id FROM released));
    RETURN NULL;
END $$;
CREATE TRIGGER export_requests_released AFTER DELETE ON export_requests
    REFERENCING OLD TABLE AS released FOR EACH STATEMENT EXECUTE FUNCTION export_requests_released();

CREATE INDEX people_updated_at ON people (updated_at);

-- Which connected system last set a person's attribute by an inbound flow,
-- and with what precedence (lower wins). A change made in the portal
-- removes the row: the portal's change is the latest word.
CREATE TABLE mv_attribute_sources (
    person_id  uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    attribute  text NOT NULL,
    system_id  uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    precedence integer NOT NULL,
    PRIMARY KEY (person_id, attribute)
);

CREATE TABLE sync_runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    system_id   uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    profile     text NOT NULL CHECK (profile IN ('full_import', 'delta_import', 'full_sync', 'delta_sync', 'export')),
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'succeeded', 'completed_with_errors', 'failed', 'stopped')),
    trigger     text NOT NULL DEFAULT 'admin',   -- admin, schedule, request, cli
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    processed   integer NOT NULL DEFAULT 0,      -- live progress
    counts      jsonb NOT NULL DEFAULT '{}',     -- adds, updates, renames, moves, deletes, unchanged, errors
    message     text NOT NULL DEFAULT ''
);
CREATE INDEX sync_runs_system ON sync_runs (system_id, id DESC);

-- The objects behind each count of a run (the first 10,000 of a run).
CREATE TABLE sync_run_objects (
    run_id  bigint NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
    seq     integer NOT NULL,
    kind    text NOT NULL,
    dn      text NOT NULL,
    detail  text NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX sync_run_objects_kind ON sync_run_objects (run_id, kind, seq);

-- Which groups' members changed when, for delta syncs: memberships change
-- through requests, dynamic rules and expiry alike. Statement triggers with
-- transition tables write one row per group per statement, however many
-- members it adds, and never update a shared row (a group that many
-- people join at once would serialise their commits).
CREATE TABLE group_member_changes (
    group_id uuid NOT NULL,
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX group_member_changes_at ON group_member_changes (at);

CREATE FUNCTION group_members_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO group_member_changes (group_id) SELECT DISTINCT group_id FROM changed_rows;
    RETURN NULL;
END $$;
CREATE TRIGGER group_members_inserted AFTER INSERT ON group_members
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION group_members_changed();
CREATE TRIGGER group_members_deleted AFTER DELETE ON group_members
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION group_members_changed();
