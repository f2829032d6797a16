-- A search word of four or five letters walks a key of four letters.
--
-- Such a word had no key of its own (keys were one, two, three and six
-- letters): walked by its first three, it passed every other word of
-- that key ('marta' passed 'marketing', 'marie' and 'mariana': 6,536
-- entries for a page), so 0049 sent it to the stem index instead, whose
-- candidates are rows of people: counting 'marta' as far as a thousand
-- read 851 heap pages, the slowest search of the white pages benchmark
-- (about 5 ms of its p95). A key of four letters is its prefix, or
-- nearly: its walk reads its own matches, in name order, index-only.
-- One index more (63 MB for 100,000 people); a word of five letters
-- walks the four-letter key too, whose other words are few ('marta'
-- shares 'mart' with no other demo word; the worst, 'mateo', passes
-- about 2,000 'mate…' entries).
CREATE OR REPLACE FUNCTION tessera_search_words_rebuild() RETURNS void
LANGUAGE plpgsql SET maintenance_work_mem = '128MB' AS $$
BEGIN
    DROP INDEX IF EXISTS person_search_words_1, person_search_words_2, person_search_words_3,
        person_search_words_4, person_search_words_6;
    TRUNCATE person_search_words;
    INSERT INTO person_search_words (word, sort_name, person_id)
    SELECT w, p.sort_name, p.id FROM people p, unnest(tsvector_to_array(p.search_doc)) w;
    CREATE INDEX person_search_words_1 ON person_search_words (left(word, 1), sort_name, person_id, word)
        WITH (fillfactor = 100);
    CREATE INDEX person_search_words_2 ON person_search_words (left(word, 2), sort_name, person_id, word)
        WITH (fillfactor = 100) WHERE length(word) >= 2;
    CREATE INDEX person_search_words_3 ON person_search_words (left(word, 3), sort_name, person_id, word)
        WITH (fillfactor = 100) WHERE length(word) >= 3;
    CREATE INDEX person_search_words_4 ON person_search_words (left(word, 4), sort_name, person_id, word)
        WITH (fillfactor = 100) WHERE length(word) >= 4;
    CREATE INDEX person_search_words_6 ON person_search_words (left(word, 6), sort_name, person_id, word)
        WITH (fillfactor = 100) WHERE length(word) >= 6;
END $$;

SET LOCAL maintenance_work_mem = '128MB';
CREATE INDEX person_search_words_4 ON person_search_words (left(word, 4), sort_name, person_id, word)
    WITH (fillfactor = 100) WHERE length(word) >= 4;

-- A word is looked up by its first six letters, or four, or all of its
-- (up to three): the longest key first, likely the rarest.
CREATE OR REPLACE FUNCTION tessera_query_keys(search text, OUT keys text[], OUT words text[])
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT array_agg(left(w, CASE WHEN length(w) >= 6 THEN 6 WHEN length(w) >= 4 THEN 4 ELSE length(w) END)
                 ORDER BY least(length(w), 6) DESC, length(w) DESC, w),
             array_agg(w ORDER BY least(length(w), 6) DESC, length(w) DESC, w)
      FROM unnest(tsvector_to_array(to_tsvector('simple', tessera_words(search)))) w $$;

-- tessera_walk_key (0051) walks a key of four letters over its own index.
CREATE OR REPLACE FUNCTION tessera_walk_key(walk_key text, prefix text, others tsquery, lim int, off int)
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
    WHEN 4 THEN
        RETURN QUERY SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 4) = walk_key AND length(k.word) >= 4 AND starts_with(k.word, prefix)
                AND (others IS NULL OR EXISTS (SELECT FROM people p WHERE p.id = k.person_id AND p.search_doc @@ others))
            ORDER BY 1, 2 LIMIT lim OFFSET off;
    ELSE
        RETURN QUERY SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 6) = walk_key AND length(k.word) >= 6 AND starts_with(k.word, prefix)
                AND (others IS NULL OR EXISTS (SELECT FROM people p WHERE p.id = k.person_id AND p.search_doc @@ others))
            ORDER BY 1, 2 LIMIT lim OFFSET off;
    END CASE;
END $$;

-- tessera_search_people (0051): one word, of any length, walks its key.
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
    IF cardinality(q.keys) = 1 THEN
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
