-- Sign-in and recovery methods (portal/method.go): alternate emails,
-- authenticator apps, passkeys and security questions; the one-time codes
-- sent by email; WebAuthn ceremonies in flight; and the second factor a
-- session was signed in with.

-- auth_methods holds each registered method, never a secret in clear: an
-- authenticator's secret is sealed with TESSERA_SECRET_KEY (portal.Sealer,
-- label 'auth_methods.secret:<id>'); a passkey holds only its public key.
CREATE TABLE auth_methods (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id     uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('email', 'totp', 'passkey', 'questions')),
    -- label is the email address, or the name given to the app or passkey.
    label         text NOT NULL CHECK (length(label) <= 254),
    -- active is false for an authenticator shown but not confirmed yet.
    active        boolean NOT NULL DEFAULT true,
    secret        bytea,
    -- last_step is the last TOTP time step accepted: a code of that step
    -- or an earlier one is refused (RFC 6238 5.2).
    last_step     bigint NOT NULL DEFAULT 0,
    -- credential_id and credential are a passkey's ID and the WebAuthn
    -- library's record of it (public key, sign count, flags).
    credential_id bytea,
    credential    jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
CREATE INDEX auth_methods_person ON auth_methods (person_id, created_at);
CREATE UNIQUE INDEX auth_methods_email ON auth_methods (person_id, lower(label)) WHERE kind = 'email';
CREATE UNIQUE INDEX auth_methods_credential ON auth_methods (credential_id) WHERE kind = 'passkey';
CREATE INDEX auth_methods_pending ON auth_methods (created_at) WHERE NOT active;

-- security_answers holds the argon2id hashes of normalised answers.
CREATE TABLE security_answers (
    method_id   uuid NOT NULL REFERENCES auth_methods (id) ON DELETE CASCADE,
    question    text NOT NULL,
    answer_hash text NOT NULL,
    PRIMARY KEY (method_id, question)
);

-- one_time_codes are codes sent by email: SHA-256 of the challenge's ID and
-- the code, never the code. Rows stay a day after use so that the codes
-- sent in the last hour can be counted.
CREATE TABLE one_time_codes (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    person_id  uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    purpose    text NOT NULL,
    address    text NOT NULL,
    code_hash  bytea NOT NULL,
    tries      int NOT NULL DEFAULT 0,
    -- done is set when the code was used, spent, or replaced by a newer one.
    done       boolean NOT NULL DEFAULT false,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX one_time_codes_person ON one_time_codes (person_id, purpose, created_at);
CREATE INDEX one_time_codes_created ON one_time_codes (created_at);

-- method_failures records each wrong authenticator code, so that guessing
-- is slowed (portal.TOTPFailures in portal.TOTPWindow) without locking the
-- person out for long. UNLOGGED: they matter for minutes.
CREATE UNLOGGED TABLE method_failures (
    person_id uuid NOT NULL,
    kind      text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX method_failures_person ON method_failures (person_id, kind, at);

-- webauthn_handles gives each person a random WebAuthn user handle, so
-- that authenticators never hold their portal ID.
CREATE TABLE webauthn_handles (
    person_id uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    handle    bytea NOT NULL UNIQUE
);

-- webauthn_ceremonies keeps a registration or sign-in in flight (the
-- challenge), keyed by a hash of the token the browser holds.
CREATE TABLE webauthn_ceremonies (
    token_hash bytea PRIMARY KEY,
    person_id  uuid REFERENCES people (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    data       bytea NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires ON webauthn_ceremonies (expires_at);

-- method_reviews records when a person last registered or confirmed their
-- methods, for the re-confirmation the policy asks for.
CREATE TABLE method_reviews (
    person_id    uuid PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    confirmed_at timestamptz NOT NULL
);

-- Sessions: a passkey signs in on its own, and second_factor says which
-- second factor a password sign-in gave ('' none, 'totp', 'passkey',
-- 'oidc' when the provider's amr/acr claims vouched for one).
ALTER TABLE sessions DROP CONSTRAINT sessions_method_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_method_check CHECK (method IN ('local', 'oidc', 'ldap', 'passkey'));
ALTER TABLE sessions ADD COLUMN second_factor text NOT NULL DEFAULT '';
