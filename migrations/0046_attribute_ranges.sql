-- The white pages filter whole numbers and dates an administrator added by
-- ranges (FROM..TO), which the filter index of value terms (0039) cannot
-- answer. Each such attribute gets a B-tree index of its own over people,
-- partial to those who hold it; Tessera makes and drops it with the
-- attribute's definition (portal/postgres/schema.go, syncRangeIndex), and
-- this migration makes those of the attributes that exist.

-- tessera_extra_int reads a stored whole number, NULL for anything else, so
-- that an index over it never refuses a write.
CREATE FUNCTION tessera_extra_int(v text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN v ~ '^-?[0-9]{1,30}$' THEN v::numeric END $$;

DO $$
DECLARE a record;
BEGIN
    FOR a IN SELECT name, type FROM attribute_schema WHERE type IN ('int', 'date') AND name ~ '^[a-z][A-Za-z0-9]*$' LOOP
        IF a.type = 'int' THEN
            EXECUTE format('CREATE INDEX %I ON people (tessera_extra_int(extra->>%L)) WHERE extra ? %L',
                'people_range_' || a.name, a.name, a.name);
        ELSE
            EXECUTE format('CREATE INDEX %I ON people (((extra->>%L) COLLATE "C")) WHERE extra ? %L',
                'people_range_' || a.name, a.name, a.name);
        END IF;
    END LOOP;
END $$;
