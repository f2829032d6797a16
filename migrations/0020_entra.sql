-- Entra ID connected systems (issue 12). Their settings other than the
-- client secret (which is sealed in bind_password_sealed, as AD's bind
-- password is) are kept in entra; hosts, port and bind_user hold what
-- they mean for Graph (the identity platform's and Graph's hosts, 443,
-- the client ID), so that a saved secret is never sent to a host it was
-- not typed for.
ALTER TABLE connected_systems DROP CONSTRAINT connected_systems_type_check;
ALTER TABLE connected_systems ADD CONSTRAINT connected_systems_type_check CHECK (type IN ('ad', 'entra'));
ALTER TABLE connected_systems ADD COLUMN entra jsonb NOT NULL DEFAULT '{}';
