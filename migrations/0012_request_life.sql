-- A request's status and timeline are written only by portal/postgres: the
-- sync engine calls its methods inside its own transactions. The trigger
-- that completed every request released from an export (also a failed one,
-- also one whose values never reached the system) goes; so does the
-- function it called.
DROP TRIGGER export_requests_released ON export_requests;
DROP FUNCTION export_requests_released();
DROP FUNCTION complete_requests(uuid[]);

-- superseded: applied in the portal, but a later request changed the same
-- values before a connected system confirmed this one's.
ALTER TABLE requests DROP CONSTRAINT requests_status_check,
    ADD CONSTRAINT requests_status_check CHECK (status IN ('authorizing', 'denied', 'expired', 'canceled', 'committed',
        'completed', 'failed', 'superseded'));

-- The longest value each attribute of a connected system takes (AD: the
-- rangeUpper of its attributeSchema object), read from the system's schema
-- when it is tested or imported. attribute is the lower-case LDAP name.
CREATE TABLE cs_attribute_limits (
    system_id   uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    attribute   text NOT NULL,
    max_len     integer NOT NULL CHECK (max_len >= 0),
    PRIMARY KEY (system_id, attribute)
);

-- The person attributes each connected system limits, derived by the sync
-- engine from the limits above and the system's outbound flows (an
-- attribute copied as it is to cs_attribute); request submission refuses a
-- longer value, naming the system and the limit.
CREATE TABLE person_attribute_limits (
    system_id    uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    attribute    text NOT NULL,
    cs_attribute text NOT NULL,
    max_len      integer NOT NULL CHECK (max_len >= 0),
    PRIMARY KEY (system_id, attribute)
);
CREATE INDEX person_attribute_limits_attribute ON person_attribute_limits (attribute);
