-- People from an HR source of truth, and references between people.

-- An inbound flow to a reference attribute (the manager) names the other
-- person's object in the same connector space (an AD DN, an HR employee
-- ID). Until that object is joined to a person, the reference waits here;
-- the sync that joins or projects it resolves it and removes the row.
CREATE TABLE mv_references (
    cs_id      bigint NOT NULL REFERENCES cs_objects (id) ON DELETE CASCADE,
    attribute  text NOT NULL,
    target     text NOT NULL,
    precedence integer NOT NULL,
    PRIMARY KEY (cs_id, attribute)
);

-- Connected systems that are not directories (an HR file) have no
-- domain controllers, bind account or base DN: those columns are checked
-- for AD only. The type itself is checked by portal.ConnectedSystem.
ALTER TABLE connected_systems DROP CONSTRAINT IF EXISTS connected_systems_type_check;
ALTER TABLE connected_systems ADD CONSTRAINT connected_systems_type_check CHECK (type ~ '^[a-z][a-z0-9_]{0,31}$');
ALTER TABLE connected_systems DROP CONSTRAINT IF EXISTS connected_systems_hosts_check;
ALTER TABLE connected_systems ADD CONSTRAINT connected_systems_hosts_check
    CHECK (cardinality(hosts) <= 10 AND (type <> 'ad' OR cardinality(hosts) >= 1));
ALTER TABLE connected_systems DROP CONSTRAINT IF EXISTS connected_systems_port_check;
ALTER TABLE connected_systems ADD CONSTRAINT connected_systems_port_check CHECK (port BETWEEN 0 AND 65535 AND (type <> 'ad' OR port >= 1));
ALTER TABLE connected_systems DROP CONSTRAINT IF EXISTS connected_systems_tls_mode_check;
ALTER TABLE connected_systems ADD CONSTRAINT connected_systems_tls_mode_check
    CHECK (tls_mode IN ('ldaps', 'starttls') OR type <> 'ad' AND tls_mode = '');
ALTER TABLE connected_systems DROP CONSTRAINT IF EXISTS connected_systems_bind_user_check;
ALTER TABLE connected_systems ADD CONSTRAINT connected_systems_bind_user_check
    CHECK (length(bind_user) <= 256 AND (type <> 'ad' OR length(bind_user) >= 1));
ALTER TABLE connected_systems ALTER COLUMN bind_password_sealed DROP NOT NULL;
ALTER TABLE connected_systems DROP CONSTRAINT IF EXISTS connected_systems_bind_password_sealed_check;
ALTER TABLE connected_systems ADD CONSTRAINT connected_systems_bind_password_sealed_check
    CHECK (octet_length(bind_password_sealed) >= 29 OR type <> 'ad' AND bind_password_sealed IS NULL);
ALTER TABLE connected_systems DROP CONSTRAINT IF EXISTS connected_systems_base_dn_check;
ALTER TABLE connected_systems ADD CONSTRAINT connected_systems_base_dn_check
    CHECK (length(base_dn) <= 2048 AND (type <> 'ad' OR length(base_dn) >= 1));

-- How an HR file reads: where Tessera watches for it, its delimiter and
-- encoding, which column holds each field, and when a file that lacks
-- rows stops for an administrator.
CREATE TABLE hr_sources (
    system_id        uuid PRIMARY KEY REFERENCES connected_systems (id) ON DELETE CASCADE,
    folder           text NOT NULL DEFAULT '' CHECK (length(folder) <= 4096),
    delimiter        text NOT NULL DEFAULT ',' CHECK (delimiter IN (',', ';', E'\t', '|')),
    encoding         text NOT NULL DEFAULT 'auto' CHECK (encoding IN ('auto', 'utf-8', 'latin-1')),
    columns          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(columns) = 'object'),
    leaver_threshold integer NOT NULL DEFAULT 10 CHECK (leaver_threshold BETWEEN 1 AND 100), -- percent of the rows
    prehire_days     integer NOT NULL DEFAULT 7 CHECK (prehire_days BETWEEN 0 AND 365),
    time_zone        text NOT NULL DEFAULT 'UTC' CHECK (length(time_zone) BETWEEN 1 AND 64)
);

-- Each HR file (or SCIM bulk request) as received, with its preview and
-- what became of it.
CREATE TABLE hr_uploads (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    system_id   uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    source      text NOT NULL CHECK (source IN ('folder', 'upload', 'cli', 'scim')),
    filename    text NOT NULL DEFAULT '' CHECK (length(filename) <= 255),
    content     bytea NOT NULL,
    sha256      bytea NOT NULL,
    received_by uuid REFERENCES people (id) ON DELETE SET NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    status      text NOT NULL CHECK (status IN ('previewed', 'waiting', 'queued', 'applied', 'failed', 'discarded')),
    row_count   integer NOT NULL DEFAULT 0,
    joiners     integer NOT NULL DEFAULT 0,
    movers      integer NOT NULL DEFAULT 0,
    leavers     integer NOT NULL DEFAULT 0,
    refusals    jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(refusals) = 'array'), -- [{"line": 7, "reason": "…"}]
    message     text NOT NULL DEFAULT '',
    run_id      bigint REFERENCES sync_runs (id) ON DELETE SET NULL,
    applied_at  timestamptz
);
CREATE INDEX hr_uploads_system ON hr_uploads (system_id, id DESC);

-- Bearer tokens for the SCIM bulk endpoint: only their SHA-256 is kept.
CREATE TABLE scim_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    system_id    uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_by   uuid REFERENCES people (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- The groups a leaver was in, for their manager to review on a rehire.
CREATE TABLE former_memberships (
    person_id uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    group_id  uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    left_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, group_id)
);
