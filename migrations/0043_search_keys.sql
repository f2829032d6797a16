-- The white pages find a word's matches already sorted by name.
--
-- The stem index (0031, 0036) is a GIN index: it gathers the rows a search
-- matches in no particular order, so a search had to read them all (as
-- far as the thousand it can page through) and sort them by name. That
-- was most of a common search's time, and a search with more than a
-- thousand matches showed the first by name of whichever thousand came
-- first, not of all its matches.
--
-- person_search_keys holds, for each word of a person's search document,
-- a few of its prefixes (keys) with the person's sort name: a B-tree over
-- (key, sort_name, person_id, word) walks the people with a key in name
-- order, so a search of one word reads its page's rows and stops (and
-- counts on only as far as the thousand, within the index). The word is
-- kept beside the key so that a search word longer than its key is
-- checked in the index too ('emile' looks up 'emi' and keeps the rows
-- whose word starts with 'emile'). Keys are the first one, two, three and
-- six characters: a search word is looked up by the longest of them it
-- has. (Without two, 'to' walked the key 't', which everyone has through
-- 'tessera' of their email, through every name before 'tomas'.)
-- Searches of several words keep the stem index, which intersects rare
-- words at once, and walk these keys only when their matches are too many
-- to sort.
CREATE FUNCTION tessera_word_keys(doc tsvector) RETURNS TABLE (key text, word text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT ROWS 40
AS $$ SELECT left(w, n), w FROM unnest(tsvector_to_array(doc)) w, (VALUES (1), (2), (3), (6)) k(n)
      WHERE length(w) >= n $$;

-- tessera_query_keys turns search text into its words (folded as
-- tessera_words folds) and the key each is looked up by, the word whose
-- key is longest (then the longest word) first: it is likely the rarest.
CREATE FUNCTION tessera_query_keys(search text, OUT keys text[], OUT words text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT array_agg(left(w, CASE WHEN length(w) >= 6 THEN 6 WHEN length(w) >= 3 THEN 3 ELSE length(w) END)
                 ORDER BY least(length(w), 6) DESC, length(w) DESC, w),
             array_agg(w ORDER BY least(length(w), 6) DESC, length(w) DESC, w)
      FROM unnest(tsvector_to_array(to_tsvector('simple', tessera_words(search)))) w $$;

CREATE TABLE person_search_keys (
    key       text COLLATE "C" NOT NULL,
    sort_name text COLLATE "C" NOT NULL,
    person_id uuid NOT NULL,
    word      text COLLATE "C" NOT NULL
);

-- tessera_search_keys_rebuild writes every person's keys afresh and builds
-- the index after them (much faster than inserting a hundred thousand
-- people's keys into the index): for this migration, and for a seed,
-- which loads people with the insert trigger below disabled.
CREATE FUNCTION tessera_search_keys_rebuild() RETURNS void
LANGUAGE plpgsql SET maintenance_work_mem = '128MB' AS $$
BEGIN
    DROP INDEX IF EXISTS person_search_keys_order;
    TRUNCATE person_search_keys;
    INSERT INTO person_search_keys (key, sort_name, person_id, word)
    SELECT k.key, p.sort_name, p.id, k.word FROM people p, tessera_word_keys(p.search_doc) k;
    CREATE UNIQUE INDEX person_search_keys_order ON person_search_keys (key, sort_name, person_id, word);
END $$;

SELECT tessera_search_keys_rebuild();

-- The keys follow people, a statement at a time (a COPY of a hundred
-- thousand people writes their keys in one INSERT).
-- The rows go in in index order: a statement of many people walks the
-- index once instead of splitting pages all over it.
CREATE FUNCTION people_keys_insert() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN
    EXECUTE $q$
        INSERT INTO person_search_keys (key, sort_name, person_id, word)
        SELECT k.key, n.sort_name, n.id, k.word FROM new_people n, tessera_word_keys(n.search_doc) k
        ORDER BY 1, 2, 3, 4 $q$;
    RETURN NULL;
END $$;

-- The statements run through EXECUTE, planned at each call for the rows
-- it has: a plan kept from an update of one person (a nested loop over
-- the transition tables) took minutes for an update of ten thousand.
CREATE FUNCTION people_keys_update() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN
    -- Only people whose words or name changed; most updates touch neither.
    -- The keys to remove are computed first (MATERIALIZED), once per
    -- changed person, and then looked up.
    EXECUTE $q$
        WITH gone AS MATERIALIZED (
            SELECT k.key, o.sort_name, o.id, k.word
            FROM old_people o JOIN new_people n ON n.id = o.id, tessera_word_keys(o.search_doc) k
            WHERE o.search_doc IS DISTINCT FROM n.search_doc OR o.sort_name IS DISTINCT FROM n.sort_name)
        DELETE FROM person_search_keys s USING gone g
        WHERE s.key = g.key AND s.sort_name = g.sort_name AND s.person_id = g.id AND s.word = g.word $q$;
    EXECUTE $q$
        INSERT INTO person_search_keys (key, sort_name, person_id, word)
        SELECT k.key, n.sort_name, n.id, k.word
        FROM old_people o JOIN new_people n ON n.id = o.id, tessera_word_keys(n.search_doc) k
        WHERE o.search_doc IS DISTINCT FROM n.search_doc OR o.sort_name IS DISTINCT FROM n.sort_name
        ORDER BY 1, 2, 3, 4 $q$;
    RETURN NULL;
END $$;

CREATE FUNCTION people_keys_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE $q$
        WITH gone AS MATERIALIZED (
            SELECT k.key, o.sort_name, o.id, k.word FROM old_people o, tessera_word_keys(o.search_doc) k)
        DELETE FROM person_search_keys s USING gone g
        WHERE s.key = g.key AND s.sort_name = g.sort_name AND s.person_id = g.id AND s.word = g.word $q$;
    RETURN NULL;
END $$;

CREATE TRIGGER people_keys_insert AFTER INSERT ON people REFERENCING NEW TABLE AS new_people
    FOR EACH STATEMENT EXECUTE FUNCTION people_keys_insert();
CREATE TRIGGER people_keys_update AFTER UPDATE ON people REFERENCING OLD TABLE AS old_people NEW TABLE AS new_people
    FOR EACH STATEMENT EXECUTE FUNCTION people_keys_update();
CREATE TRIGGER people_keys_delete AFTER DELETE ON people REFERENCING OLD TABLE AS old_people
    FOR EACH STATEMENT EXECUTE FUNCTION people_keys_delete();

-- tessera_search_people pages through the people a search finds, sorted
-- by name (sort_name, then ID): from off, at most lim, each row with the
-- number of matches, counted as far as max_matches + 1. One word walks
-- its key. Several words are intersected by the stem index, as far as
-- max_matches + 1 rows: fewer are all the matches and are sorted; more
-- are walked in name order from the first word's key, each row kept when
-- the person has the other words too. Its plans are generic: a plan made
-- for a common word may read the whole table instead of the index.
CREATE FUNCTION tessera_search_people(search text, max_matches int, lim int, off int)
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
    IF cardinality(q.keys) = 1 THEN
        RETURN QUERY WITH m AS MATERIALIZED (
                SELECT DISTINCT k.sort_name, k.person_id FROM person_search_keys k
                WHERE k.key = q.keys[1] AND starts_with(k.word, q.words[1])
                ORDER BY 1, 2 LIMIT max_matches + 1)
            SELECT m.person_id, m.sort_name::text, (SELECT count(*) FROM m)::int
            FROM m ORDER BY m.sort_name, m.person_id LIMIT lim OFFSET off;
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
    RETURN QUERY SELECT d.person_id, d.sort_name::text, max_matches + 1 FROM (
            SELECT DISTINCT k.sort_name, k.person_id FROM person_search_keys k
            WHERE k.key = q.keys[1] AND starts_with(k.word, q.words[1])
                AND NOT EXISTS (SELECT FROM unnest(q.keys[2:], q.words[2:]) o(key, word) WHERE NOT EXISTS (
                    SELECT FROM person_search_keys x
                    WHERE x.key = o.key AND x.sort_name = k.sort_name AND x.person_id = k.person_id AND starts_with(x.word, o.word)))
            ORDER BY 1, 2 LIMIT lim OFFSET off) d;
END $$;
