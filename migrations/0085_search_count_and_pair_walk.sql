-- White pages: a search of one word counts its matches without carrying
-- them, and a search of several words with more than a thousand matches
-- walks its first two words' keys merged, index-only, with a fixed plan.
--
-- One word: the count walked the word's key as far as a thousand and one
-- people through tessera_walk_key (RETURN QUERY: a tuplestore), into a
-- materialized CTE, counted it and sorted it for the page (0.62 ms of
-- backend CPU for 'mariana' at best); now the count is an aggregate over
-- the key's index-only walk and the page its own walk of lim rows
-- (0.41 ms). The page stops where the thousand and first match is, as
-- the page sorted out of the counted ones did.
--
-- Several words, more than a thousand matches: the page walked the first
-- word's key and read each person's row to check the others ('zurich
-- senior': 254 rows, about 1,000 buffers, for its first 21). Both words'
-- keys are in name order, so a merge join of the two index-only walks
-- finds the page reading only their index pages (93 buffers for 'senior
-- new york', whose third word is still checked on the 21 rows). 0080
-- merged the keys in a statement planned at each call, and the planner,
-- guessing each key's matches from its range in the index, read whole
-- keys (65-75 ms). Here each pair of key lengths is its own static
-- statement, planned once per session as a generic plan, and the
-- function allows only the plan it is written for: merge join of
-- index-only scans (no hash or nested-loop join, sort, sequential or
-- bitmap scan), so no guess can choose another; JIT is off so that a
-- disabled path, if ever left as the only one, is not compiled at every
-- call.
--
-- The count of several words stays the stem index's (0060): merging the
-- keys to count as far as a thousand and one reads both keys over the
-- whole name range the matches span (4,663 'zurich' and 9,528 'senior'
-- entries, more than the stem index's heap pages cost).
CREATE FUNCTION tessera_count_key(walk_key text, prefix text, cap int) RETURNS int
LANGUAGE plpgsql STABLE PARALLEL SAFE STRICT
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    n int;
BEGIN
    CASE length(walk_key)
    WHEN 1 THEN
        SELECT count(*) INTO n FROM (SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 1) = walk_key AND starts_with(k.word, prefix) ORDER BY 1, 2 LIMIT cap) c;
    WHEN 2 THEN
        SELECT count(*) INTO n FROM (SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 2) = walk_key AND length(k.word) >= 2 AND starts_with(k.word, prefix) ORDER BY 1, 2 LIMIT cap) c;
    WHEN 3 THEN
        SELECT count(*) INTO n FROM (SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 3) = walk_key AND length(k.word) >= 3 AND starts_with(k.word, prefix) ORDER BY 1, 2 LIMIT cap) c;
    WHEN 4 THEN
        SELECT count(*) INTO n FROM (SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 4) = walk_key AND length(k.word) >= 4 AND starts_with(k.word, prefix) ORDER BY 1, 2 LIMIT cap) c;
    ELSE
        SELECT count(*) INTO n FROM (SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
            WHERE left(k.word, 6) = walk_key AND length(k.word) >= 6 AND starts_with(k.word, prefix) ORDER BY 1, 2 LIMIT cap) c;
    END CASE;
    RETURN n;
END $$;

-- tessera_walk_pair walks the people who have a word starting with word1
-- and one starting with word2 (each walked by its key, as
-- tessera_query_keys gives them), in name order, each once: from off, at
-- most lim; when others is given, only those whose search document
-- matches it too, checked on the merged rows only (the fenced subquery
-- keeps the planner from checking it on every row of the first key).
-- Its body, a statement for each pair of key lengths (1, 2, 3, 4, 6), is
-- written here once.
DO $gen$
DECLARE
    body text := '';
    a int;
    b int;
    walk text := '(SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
                WHERE left(k.word, %s) = %s%s AND starts_with(k.word, %s))';
BEGIN
    FOREACH a IN ARRAY ARRAY[1, 2, 3, 4, 6] LOOP
        FOREACH b IN ARRAY ARRAY[1, 2, 3, 4, 6] LOOP
            body := body || format('
    WHEN %s THEN
        RETURN QUERY SELECT m.sort_name, m.person_id FROM (
            SELECT a.sort_name, a.person_id FROM %s a JOIN %s b ON b.sort_name = a.sort_name AND b.person_id = a.person_id
            ORDER BY 1, 2 OFFSET 0) m
            WHERE others IS NULL OR EXISTS (SELECT FROM people p WHERE p.id = m.person_id AND p.search_doc @@ others)
            ORDER BY 1, 2 LIMIT lim OFFSET off;',
                a * 10 + b,
                format(walk, a, 'key1', CASE WHEN a > 1 THEN format(' AND length(k.word) >= %s', a) ELSE '' END, 'word1'),
                format(walk, b, 'key2', CASE WHEN b > 1 THEN format(' AND length(k.word) >= %s', b) ELSE '' END, 'word2'));
        END LOOP;
    END LOOP;
    EXECUTE format($f$
CREATE FUNCTION tessera_walk_pair(key1 text, word1 text, key2 text, word2 text, others tsquery, lim int, off int)
RETURNS TABLE (sort_name text, person_id uuid)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = off
SET enable_nestloop = off
SET enable_sort = off
SET enable_seqscan = off
SET enable_bitmapscan = off
SET jit = off
AS $body$
#variable_conflict use_column
BEGIN
    CASE length(key1) * 10 + length(key2)%s
    END CASE;
END $body$$f$, body);
END $gen$;

-- tessera_search_people (0081): one word is counted by tessera_count_key
-- and paged by tessera_walk_key; several words with more than a thousand
-- matches are paged by tessera_walk_pair, the words past the second
-- checked on the merged rows.
CREATE OR REPLACE FUNCTION tessera_search_people(search text, max_matches int, lim int, off int)
RETURNS TABLE (person_id uuid, sort_name text, total int)
LANGUAGE plpgsql STABLE PARALLEL SAFE STRICT
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    q record;
    g record;
    n int;
    ids uuid[];
    names text[];
BEGIN
    SELECT * INTO q FROM tessera_query_keys(search);
    IF q.keys IS NULL THEN
        RETURN;
    END IF;
    IF cardinality(q.keys) = 1 THEN
        n := tessera_count_key(q.keys[1], q.words[1], max_matches + 1);
        RETURN QUERY SELECT w.person_id, w.sort_name, n
            FROM tessera_walk_key(q.keys[1], q.words[1], NULL, greatest(0, least(lim, max_matches + 1 - off)), off) w;
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
        FROM tessera_walk_pair(q.keys[1], q.words[1], q.keys[2], q.words[2],
            (SELECT string_agg(o || ':*', ' & ')::tsquery FROM unnest(q.words[3:]) o), lim, off) w;
END $$;
