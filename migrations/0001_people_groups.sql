-- People, groups, memberships, roles, local credentials, sessions and audit.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- tessera_fold lowercases, strips diacritics and drops apostrophes, so that
-- "zoe dangelo" finds "Zoë D'Angelo" (and "D’Angelo"). unaccent() is only
-- STABLE, so it is wrapped with its dictionary named explicitly.
CREATE FUNCTION tessera_fold(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT translate(lower(public.unaccent('public.unaccent'::regdictionary, $1)), '''’‘`´', '') $$;

-- tessera_words folds text and keeps only letters and digits, one space
-- between words: "Smith-Jones, Ana" becomes "smith jones ana".
CREATE FUNCTION tessera_words(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT btrim(regexp_replace(tessera_fold($1), '[^[:alnum:]]+', ' ', 'g')) $$;

-- tessera_prefix_query turns search text into a query that every word must
-- match as the start of a word: "zoë d'ang" becomes 'zoe':* & 'dang':*.
-- The words hold only letters and digits, so they cannot break the syntax.
CREATE FUNCTION tessera_prefix_query(text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT string_agg(lexeme || ':*', ' & ')::tsquery
      FROM unnest(to_tsvector('simple', tessera_words($1))) $$;

-- attribute_schema describes the extra attributes kept in people.extra.
CREATE TABLE attribute_schema (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-zA-Z0-9]{0,62}$'),
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    type        text NOT NULL CHECK (type IN ('string', 'int', 'bool', 'date')),
    privileged  boolean NOT NULL DEFAULT false
);

CREATE TABLE people (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    account_name     text NOT NULL CHECK (length(account_name) BETWEEN 1 AND 64),
    employee_id      text CHECK (length(employee_id) BETWEEN 1 AND 64),
    given_name       text NOT NULL DEFAULT '' CHECK (length(given_name) <= 256),
    surname          text NOT NULL DEFAULT '' CHECK (length(surname) <= 256),
    display_name     text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 256),
    email            text NOT NULL DEFAULT '' CHECK (length(email) <= 256),
    title            text NOT NULL DEFAULT '' CHECK (length(title) <= 256),
    department       text NOT NULL DEFAULT '' CHECK (length(department) <= 256),
    office           text NOT NULL DEFAULT '' CHECK (length(office) <= 256),
    phone            text NOT NULL DEFAULT '' CHECK (length(phone) <= 64),
    mobile           text NOT NULL DEFAULT '' CHECK (length(mobile) <= 64),
    manager_id       uuid REFERENCES people (id) ON DELETE SET NULL CHECK (manager_id <> id),
    account_enabled  boolean NOT NULL DEFAULT true,
    extra            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(extra) = 'object'),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    -- search_doc holds the folded words the white pages search by prefix.
    search_doc       tsvector GENERATED ALWAYS AS (to_tsvector('simple', tessera_words(
        display_name || ' ' || email || ' ' || title || ' ' || department || ' ' ||
        office || ' ' || phone || ' ' || mobile))) STORED,
    -- sort_name orders lists by folded name with cheap byte comparisons.
    sort_name        text COLLATE "C" GENERATED ALWAYS AS (tessera_fold(display_name)) STORED
);
CREATE UNIQUE INDEX people_account_name_key ON people (lower(account_name));
CREATE UNIQUE INDEX people_employee_id_key ON people (employee_id);
CREATE INDEX people_email ON people (lower(email)) WHERE email <> '';
CREATE INDEX people_manager ON people (manager_id, sort_name, id);
CREATE INDEX people_sort_name ON people (sort_name, id);
-- Without a pending list, every search reads only the index proper.
CREATE INDEX people_search ON people USING gin (search_doc) WITH (fastupdate = off);

CREATE TABLE groups (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 256),
    description  text NOT NULL DEFAULT '' CHECK (length(description) <= 1024),
    email        text NOT NULL DEFAULT '' CHECK (length(email) <= 256),
    group_type   text NOT NULL CHECK (group_type IN ('security', 'distribution')),
    join_policy  text NOT NULL CHECK (join_policy IN ('open', 'owner_approval', 'closed')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    search_text  text GENERATED ALWAYS AS (tessera_fold(
        display_name || ' ' || name || ' ' || description || ' ' || email)) STORED
);
CREATE UNIQUE INDEX groups_name_key ON groups (lower(name));
CREATE INDEX groups_display_name ON groups (display_name, id);
CREATE INDEX groups_search ON groups USING gin (search_text gin_trgm_ops) WITH (fastupdate = off);

CREATE TABLE group_owners (
    group_id  uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    person_id uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, person_id)
);
CREATE INDEX group_owners_person ON group_owners (person_id);

CREATE TABLE group_members (
    group_id   uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    person_id  uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    added_at   timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    PRIMARY KEY (group_id, person_id)
);
CREATE INDEX group_members_person ON group_members (person_id);

CREATE TABLE person_roles (
    person_id uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    role      text NOT NULL CHECK (role IN ('helpdesk', 'admin')),
    PRIMARY KEY (person_id, role)
);

-- local_credentials holds argon2id hashes for local sign-in.
CREATE TABLE local_credentials (
    person_id     uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    password_hash text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- sessions keeps only the SHA-256 of each session token.
CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    person_id    uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    method       text NOT NULL CHECK (method IN ('local', 'oidc', 'ldap')),
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    idle_until   timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_person ON sessions (person_id);

-- oidc_flows holds the state, nonce and PKCE verifier of sign-ins in flight.
CREATE TABLE oidc_flows (
    state_hash    bytea PRIMARY KEY,
    nonce         text NOT NULL,
    code_verifier text NOT NULL,
    return_to     text NOT NULL,
    expires_at    timestamptz NOT NULL
);

-- audit_log is append-only; each entry carries the hash of the previous one.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid,
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}',
    prev_hash   bytea,
    hash        bytea NOT NULL
);

-- audit_append adds an entry whose hash covers the previous entry's hash and
-- this entry's fields; the advisory lock keeps the chain linear.
CREATE FUNCTION audit_append(p_actor uuid, p_action text, p_target_type text,
                             p_target_id text, p_details jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    prev   bytea;
    ts     timestamptz := date_trunc('milliseconds', clock_timestamp());
    new_id bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7261126002);
    SELECT hash INTO prev FROM audit_log ORDER BY id DESC LIMIT 1;
    INSERT INTO audit_log (at, actor_id, action, target_type, target_id, details, prev_hash, hash)
    VALUES (ts, p_actor, p_action, p_target_type, p_target_id, p_details, prev,
            sha256(coalesce(prev, ''::bytea) || convert_to(concat_ws(E'\x1f',
                (extract(epoch FROM ts) * 1000)::bigint, p_actor, p_action,
                p_target_type, p_target_id, p_details::text), 'UTF8')))
    RETURNING id INTO new_id;
    RETURN new_id;
END $$;
