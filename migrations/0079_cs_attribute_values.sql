-- Whether each attribute of a connected system holds one value or several,
-- as its schema says (AD's isSingleValued), read with its length limits: a
-- sync rule that would write a list to an attribute of one value is refused
-- when it is saved, rather than failing at every export with the
-- directory's own words.
CREATE TABLE cs_attribute_values (
    system_id     uuid NOT NULL REFERENCES connected_systems (id) ON DELETE CASCADE,
    attribute     text NOT NULL,
    single_valued boolean NOT NULL,
    PRIMARY KEY (system_id, attribute)
);
