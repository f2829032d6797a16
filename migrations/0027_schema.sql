-- The person attribute table that administrators extend at run time
-- (Administration → Schema): who sees each extra attribute, its limits,
-- whether a person may ask to change it, and two more types: text with
-- several values (kept one a line) and a reference to a person (their ID).
ALTER TABLE attribute_schema DROP CONSTRAINT attribute_schema_type_check;
ALTER TABLE attribute_schema ADD CONSTRAINT attribute_schema_type_check
    CHECK (type IN ('string', 'strings', 'int', 'bool', 'date', 'reference'));
-- portal.MaxAttributeName: the shortest limit of the systems a name reaches.
ALTER TABLE attribute_schema DROP CONSTRAINT attribute_schema_name_check;
ALTER TABLE attribute_schema ADD CONSTRAINT attribute_schema_name_check
    CHECK (name ~ '^[a-z][a-zA-Z0-9]{0,31}$');
ALTER TABLE attribute_schema
    ADD COLUMN visibility text NOT NULL DEFAULT 'everyone'
        CHECK (visibility IN ('everyone', 'self', 'helpdesk', 'admin')),
    ADD COLUMN max_len integer NOT NULL DEFAULT 0 CHECK (max_len BETWEEN 0 AND 1024),
    ADD COLUMN min_value bigint,
    ADD COLUMN max_value bigint,
    ADD COLUMN editable boolean NOT NULL DEFAULT false,
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT attribute_schema_range_check CHECK (min_value <= max_value);
UPDATE attribute_schema SET visibility = 'helpdesk' WHERE privileged;
UPDATE attribute_schema SET max_len = 1024 WHERE type = 'string';
ALTER TABLE attribute_schema DROP COLUMN privileged;
-- AD compares attribute names without regard to case: so does the table.
CREATE UNIQUE INDEX attribute_schema_name_fold ON attribute_schema (lower(name));
