-- Passwords: the settings of Administration → Passwords, the self-service
-- reset flows in progress, the helpdesk's one-time recovery codes and the
-- expiry reminders sent. No password is ever stored here: a new password
-- goes from the form straight to the connected systems.

-- password_settings is one row: the policy and the reset flow's rules.
CREATE TABLE password_settings (
    id                   boolean PRIMARY KEY DEFAULT true CHECK (id),
    min_length           integer NOT NULL DEFAULT 15 CHECK (min_length BETWEEN 8 AND 64),
    max_length           integer NOT NULL DEFAULT 256 CHECK (max_length BETWEEN 64 AND 1024),
    banned_words         text[] NOT NULL DEFAULT '{}',
    gates_required       integer NOT NULL DEFAULT 1 CHECK (gates_required IN (1, 2)),
    email_codes          boolean NOT NULL DEFAULT true,
    authenticator_apps   boolean NOT NULL DEFAULT true,
    security_questions   boolean NOT NULL DEFAULT false,
    unlock_only          boolean NOT NULL DEFAULT true,
    helpdesk_acts_on_staff boolean NOT NULL DEFAULT false,
    reconfirm_days       integer NOT NULL DEFAULT 180 CHECK (reconfirm_days BETWEEN 0 AND 730),
    lockout_attempts     integer NOT NULL DEFAULT 5 CHECK (lockout_attempts BETWEEN 3 AND 100),
    lockout_minutes      integer NOT NULL DEFAULT 15 CHECK (lockout_minutes BETWEEN 1 AND 1440),
    expiry_reminder_days integer NOT NULL DEFAULT 14 CHECK (expiry_reminder_days BETWEEN 0 AND 90),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
INSERT INTO password_settings DEFAULT VALUES;

-- password_resets is a reset flow in progress, keyed by a hash of the token
-- in the browser's cookie. person_id is null when the account named no one:
-- the flow is written all the same, so that a stranger cannot tell. The
-- emailed code is kept as SHA-256 of the token and the code: without the
-- browser's token, the hash cannot be tried against every code.
CREATE TABLE password_resets (
    token_hash      bytea PRIMARY KEY,
    person_id       uuid REFERENCES people (id) ON DELETE CASCADE,
    account         text NOT NULL,   -- as typed, for the audit log
    code_hash       bytea NOT NULL,
    code_expires_at timestamptz NOT NULL,
    code_tries      integer NOT NULL DEFAULT 0,
    code_used       boolean NOT NULL DEFAULT false,
    gates           text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX password_resets_expires ON password_resets (expires_at);

-- recovery_codes are the helpdesk's one-time codes (like Entra's temporary
-- access pass): SHA-256 of the code, single use, short-lived.
CREATE TABLE recovery_codes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id  uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL UNIQUE,
    issued_by  uuid REFERENCES people (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX recovery_codes_person ON recovery_codes (person_id) WHERE used_at IS NULL;

-- password_reminders records the expiry reminders sent, one per account and
-- expiry date, so that the daily job reminds once.
CREATE TABLE password_reminders (
    person_id  uuid NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    system_id  uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (person_id, system_id, expires_at)
);
