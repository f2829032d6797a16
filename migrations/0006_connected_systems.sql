-- Connected systems: the directories Tessera syncs with, as administrators
-- configure them. The bind password is stored only sealed (AES-256-GCM
-- under TESSERA_SECRET_KEY, bound to the row's id), never in clear.
CREATE TABLE connected_systems (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    type                 text NOT NULL CHECK (type IN ('ad')),
    hosts                text[] NOT NULL CHECK (cardinality(hosts) BETWEEN 1 AND 10),
    port                 integer NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls_mode             text NOT NULL CHECK (tls_mode IN ('ldaps', 'starttls')),
    ca_cert_pem          text NOT NULL DEFAULT '', -- empty: the system's CAs
    bind_user            text NOT NULL CHECK (length(bind_user) BETWEEN 1 AND 256),
    -- version byte, nonce, ciphertext and tag: never shorter than 29 bytes.
    bind_password_sealed bytea NOT NULL CHECK (octet_length(bind_password_sealed) >= 29),
    base_dn              text NOT NULL CHECK (length(base_dn) BETWEEN 1 AND 2048),
    ous                  text[] NOT NULL DEFAULT '{}' CHECK (cardinality(ous) <= 100),
    enabled              boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX connected_systems_name_key ON connected_systems (lower(name));
