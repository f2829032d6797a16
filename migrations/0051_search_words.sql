-- The search keys (0043) become indexes over a table of words.
--
-- person_search_keys held a row for each of a word's keys (its first one,
-- two, three and six characters) with the person's sort name and the
-- word: 48 rows a person, 644 MB for 100,000 people (the table 342 MB,
-- its B-tree 302 MB), four times the rest of the database, which pushed
-- the pages searches read out of the buffer cache. person_search_words
-- holds each word of a person's search document once (15 rows a person),
-- and each key length is an index over an expression of the word, in
-- name order: the same B-tree entries as before (searches walk them the
-- same way, index-only), a table a third of the size (98 MB), and the
-- indexes packed full (fillfactor 100: they are written in bulk, and a
-- person's words change seldom). 372 MB in all for 100,000 people.
DROP TRIGGER people_keys_insert ON people;
DROP TRIGGER people_keys_update ON people;
DROP TRIGGER people_keys_delete ON people;
DROP FUNCTION people_keys_insert();
DROP FUNCTION people_keys_update();
DROP FUNCTION people_keys_delete();
DROP FUNCTION tessera_search_keys_rebuild();
DROP TABLE person_search_keys;
DROP FUNCTION tessera_word_keys(tsvector);

CREATE TABLE person_search_words (
    word      text COLLATE "C" NOT NULL,
    sort_name text COLLATE "C" NOT NULL,
    person_id uuid NOT NULL
);

-- tessera_search_words_rebuild writes every person's words afresh and
-- builds the indexes after them (much faster than inserting a hundred
-- thousand people's words into four indexes): for this migration, and
-- for a seed, which loads people with the insert trigger below disabled.
-- The index for one character covers every word; the others only the
-- words at least as long as their key (a search of a key of that length
-- finds no shorter word).
CREATE FUNCTION tessera_search_words_rebuild() RETURNS void
LANGUAGE plpgsql SET maintenance_work_mem = '128MB' AS $$
BEGIN
    DROP INDEX IF EXISTS person_search_words_1, person_search_words_2, person_search_words_3, person_search_words_6;
    TRUNCATE person_search_words;
    INSERT INTO person_search_words (word, sort_name, person_id)
    SELECT w, p.sort_name, p.id FROM people p, unnest(tsvector_to_array(p.search_doc)) w;
    CREATE INDEX person_search_words_1 ON person_search_words (left(word, 1), sort_name, person_id, word)
        WITH (fillfactor = 100);
    CREATE INDEX person_search_words_2 ON person_search_words (left(word, 2), sort_name, person_id, word)
        WITH (fillfactor = 100) WHERE length(word) >= 2;
    CREATE INDEX person_search_words_3 ON person_search_words (left(word, 3), sort_name, person_id, word)
        WITH (fillfactor = 100) WHERE length(word) >= 3;
    CREATE INDEX person_search_words_6 ON person_search_words (left(word, 6), sort_name, person_id, word)
        WITH (fillfactor = 100) WHERE length(word) >= 6;
END $$;

SELECT tessera_search_words_rebuild();

-- The words follow people, a statement at a time (a COPY of a hundred
-- thousand people writes their words in one INSERT), in name order so
-- that a statement of many people walks the indexes once.
CREATE FUNCTION people_words_insert() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN
    EXECUTE $q$
        INSERT INTO person_search_words (word, sort_name, person_id)
        SELECT w, n.sort_name, n.id FROM new_people n, unnest(tsvector_to_array(n.search_doc)) w
        ORDER BY 2, 3, 1 $q$;
    RETURN NULL;
END $$;

-- The statements run through EXECUTE, planned at each call for the rows
-- it has (see 0043). A word is found to be removed through the index of
-- its first character, which holds every word.
CREATE FUNCTION people_words_update() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN
    -- Only people whose words or name changed; most updates touch neither.
    EXECUTE $q$
        WITH gone AS MATERIALIZED (
            SELECT w, o.sort_name, o.id
            FROM old_people o JOIN new_people n ON n.id = o.id, unnest(tsvector_to_array(o.search_doc)) w
            WHERE o.search_doc IS DISTINCT FROM n.search_doc OR o.sort_name IS DISTINCT FROM n.sort_name)
        DELETE FROM person_search_words s USING gone g
        WHERE left(s.word, 1) = left(g.w, 1) AND s.sort_name = g.sort_name AND s.person_id = g.id AND s.word = g.w $q$;
    EXECUTE $q$
        INSERT INTO person_search_words (word, sort_name, person_id)
        SELECT w, n.sort_name, n.id
        FROM old_people o JOIN new_people n ON n.id = o.id, unnest(tsvector_to_array(n.search_doc)) w
        WHERE o.search_doc IS DISTINCT FROM n.search_doc OR o.sort_name IS DISTINCT FROM n.sort_name
        ORDER BY 2, 3, 1 $q$;
    RETURN NULL;
END $$;

CREATE FUNCTION people_words_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE $q$
        WITH gone AS MATERIALIZED (
            SELECT w, o.sort_name, o.id FROM old_people o, unnest(tsvector_to_array(o.search_doc)) w)
        DELETE FROM person_search_words s USING gone g
        WHERE left(s.word, 1) = left(g.w, 1) AND s.sort_name = g.sort_name AND s.person_id = g.id AND s.word = g.w $q$;
    RETURN NULL;
END $$;

CREATE TRIGGER people_words_insert AFTER INSERT ON people REFERENCING NEW TABLE AS new_people
    FOR EACH STATEMENT EXECUTE FUNCTION people_words_insert();
CREATE TRIGGER people_words_update AFTER UPDATE ON people REFERENCING OLD TABLE AS old_people NEW TABLE AS new_people
    FOR EACH STATEMENT EXECUTE FUNCTION people_words_update();
CREATE TRIGGER people_words_delete AFTER DELETE ON people REFERENCING OLD TABLE AS old_people
    FOR EACH STATEMENT EXECUTE FUNCTION people_words_delete();

-- tessera_walk_key walks the people one of whose words has walk_key (its
-- first one, two, three or six characters) and starts with prefix, in name
-- order, each once: from off, at most lim; when others is given, only
-- the people whose search document matches it too. Each key length is
-- its own statement, over its own index, so that the generic plans walk
-- the index in order and stop at lim (one statement for all four lengths
-- was planned as a sort of every match).
CREATE FUNCTION tessera_walk_key(walk_key text, prefix text, others tsquery, lim int, off int)
RETURNS TABLE (sort_name text, person_id uuid)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
BEGIN
    CASE length(walk_key)
    WHEN 1 THEN
        RETURN QUERY SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 1) = walk_key AND starts_with(k.word, prefix)
                AND (others IS NULL OR EXISTS (SELECT FROM people p WHERE p.id = k.person_id AND p.search_doc @@ others))
            ORDER BY 1, 2 LIMIT lim OFFSET off;
    WHEN 2 THEN
        RETURN QUERY SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 2) = walk_key AND length(k.word) >= 2 AND starts_with(k.word, prefix)
                AND (others IS NULL OR EXISTS (SELECT FROM people p WHERE p.id = k.person_id AND p.search_doc @@ others))
            ORDER BY 1, 2 LIMIT lim OFFSET off;
    WHEN 3 THEN
        RETURN QUERY SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 3) = walk_key AND length(k.word) >= 3 AND starts_with(k.word, prefix)
                AND (others IS NULL OR EXISTS (SELECT FROM people p WHERE p.id = k.person_id AND p.search_doc @@ others))
            ORDER BY 1, 2 LIMIT lim OFFSET off;
    ELSE
        RETURN QUERY SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 6) = walk_key AND length(k.word) >= 6 AND starts_with(k.word, prefix)
                AND (others IS NULL OR EXISTS (SELECT FROM people p WHERE p.id = k.person_id AND p.search_doc @@ others))
            ORDER BY 1, 2 LIMIT lim OFFSET off;
    END CASE;
END $$;

-- tessera_search_people (0043, 0049) walks the words' indexes. The other
-- words of a search walked in name order are checked against the
-- person's search document (one row read) instead of a key each.
CREATE OR REPLACE FUNCTION tessera_search_people(search text, max_matches int, lim int, off int)
RETURNS TABLE (person_id uuid, sort_name text, total int)
LANGUAGE plpgsql STABLE PARALLEL SAFE STRICT
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    q record;
    g record;
    ids uuid[];
    names text[];
BEGIN
    SELECT * INTO q FROM tessera_query_keys(search);
    IF q.keys IS NULL THEN
        RETURN;
    END IF;
    IF cardinality(q.keys) = 1 AND length(q.words[1]) NOT IN (4, 5) THEN
        RETURN QUERY WITH m AS MATERIALIZED (
                SELECT * FROM tessera_walk_key(q.keys[1], q.words[1], NULL, max_matches + 1, 0))
            SELECT m.person_id, m.sort_name, (SELECT count(*) FROM m)::int
            FROM m ORDER BY m.sort_name COLLATE "C", m.person_id LIMIT lim OFFSET off;
        RETURN;
    END IF;
    SELECT * INTO g FROM tessera_search_query(search);
    SELECT array_agg(p.id), array_agg(p.sort_name) INTO ids, names FROM (
        SELECT p.id, p.sort_name FROM people p
        WHERE tessera_search_stems(p.search_doc) @@ g.stems AND (g.words IS NULL OR p.search_doc @@ g.words)
        LIMIT max_matches + 1) p;
    IF coalesce(cardinality(ids), 0) <= max_matches THEN
        RETURN QUERY SELECT u.id, u.name, cardinality(ids)
            FROM unnest(ids, names) u(id, name) ORDER BY u.name COLLATE "C", u.id LIMIT lim OFFSET off;
        RETURN;
    END IF;
    RETURN QUERY SELECT w.person_id, w.sort_name, max_matches + 1
        FROM tessera_walk_key(q.keys[1], q.words[1],
            (SELECT string_agg(o || ':*', ' & ')::tsquery FROM unnest(q.words[2:]) o), lim, off) w;
END $$;

-- The GIN indexes of a database seeded before the seed built them afresh
-- (see portal/postgres/seed.go) are several times their size.
REINDEX INDEX people_search_stems;
REINDEX INDEX people_terms;
