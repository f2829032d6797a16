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

-- The connector space. anchor is null for an object Tessera is about to
-- create (a provisioning add not yet exported).
CREATE TABLE cs_objects (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    system_id        uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    anchor           text,
    dn               text NOT NULL,
    class            text NOT NULL CHECK (class IN ('user', 'group')),
    attributes       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    person_id        uuid REFERENCES people (id) ON DELETE SET NULL,
    group_id         uuid REFERENCES groups (id) ON DELETE SET NULL,
    join_error       text NOT NULL DEFAULT '',
    seen_run         bigint,                 -- the last full import that saw it
    imported_at      timestamptz,
    -- a delta import changed it: the next delta sync looks at it.
    pending_import   boolean NOT NULL DEFAULT false,
    deprovisioned_at timestamptz,            -- disabled and moved out, awaiting deletion
    CHECK (person_id IS NULL OR group_id IS NULL)
);
CREATE UNIQUE INDEX cs_objects_anchor ON cs_objects (system_id, anchor);
CREATE INDEX cs_objects_dn ON cs_objects (system_id, lower(dn));
CREATE UNIQUE INDEX cs_objects_person ON cs_objects (system_id, person_id) WHERE person_id IS NOT NULL;
CREATE UNIQUE INDEX cs_objects_group ON cs_objects (system_id, group_id) WHERE group_id IS NOT NULL;
CREATE INDEX cs_objects_people ON cs_objects (person_id) WHERE person_id IS NOT NULL;
CREATE INDEX cs_objects_groups ON cs_objects (group_id) WHERE group_id IS NOT NULL;
CREATE INDEX cs_objects_pending_import ON cs_objects (system_id) WHERE pending_import;

-- One pending export per connector space object: what the next export run
-- sends. request_ids are the portal requests waiting for it.
CREATE TABLE pending_exports (
    cs_id            bigint PRIMARY KEY REFERENCES cs_objects (id) ON DELETE CASCADE,
    system_id        uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    op               text NOT NULL CHECK (op IN ('add', 'modify', 'rename', 'delete')),
    dn               text NOT NULL,
    new_dn           text NOT NULL DEFAULT '',
    changes          jsonb NOT NULL DEFAULT '[]',
    set_password     boolean NOT NULL DEFAULT false,
    deprovision      boolean NOT NULL DEFAULT false, -- the object left the scope
    enable           boolean NOT NULL DEFAULT false,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'error')),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    request_ids      uuid[] NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_exports_due ON pending_exports (system_id, next_attempt_at, cs_id);
CREATE INDEX pending_exports_requests ON pending_exports USING gin (request_ids);

-- Exports sent and not yet seen by a confirming import, with the requests
-- they complete.
CREATE TABLE unconfirmed_exports (
    cs_id       bigint PRIMARY KEY REFERENCES cs_objects (id) ON DELETE CASCADE,
    system_id   uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    request_ids uuid[] NOT NULL DEFAULT '{}',
    exported_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unconfirmed_exports_system ON unconfirmed_exports (system_id);
CREATE INDEX unconfirmed_exports_requests ON unconfirmed_exports USING gin (request_ids);

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
