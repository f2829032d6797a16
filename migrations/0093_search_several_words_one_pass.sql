-- White pages: a search of several words with at most a thousand matches
-- sorts its page out of the matches in the statement that finds them.
--
-- The stem index's matches were gathered into two arrays (ids, names) and
-- a second statement unnested them to sort the page: unnesting the pair
-- of arrays cost about 0.9 µs a match, more than sorting them
-- (backend CPU, 100,000 people, best of four runs of 150: 'Dublin
-- Financial', 953 matches, 2.13 ms a search, 1.40 ms now; '東京
-- Recruiter', 531 matches, 1.13 ms, 0.73 ms now). The matches are now
-- kept in a materialized CTE that is counted and, only when the count is
-- within max_matches, sorted (top-N) for the page; a search with more
-- matches sorts nothing and is still paged by tessera_walk_pair, as is
-- 'Auckland Senior' (2.80 ms, 2.87 ms now). The one row of a count with
-- no page row (no match, or a page past the last) returns nothing, as
-- before.
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
    r record;
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
    FOR r IN WITH m AS MATERIALIZED (
            SELECT p.id, p.sort_name FROM people p
            WHERE tessera_search_stems(p.search_doc) @@ g.stems AND (g.words IS NULL OR p.search_doc @@ g.words)
            LIMIT max_matches + 1),
        c AS (SELECT count(*)::int AS n FROM m)
        SELECT c.n, x.id, x.sort_name FROM c LEFT JOIN LATERAL (
            SELECT m.id, m.sort_name FROM m WHERE c.n <= max_matches
            ORDER BY m.sort_name COLLATE "C", m.id LIMIT lim OFFSET off) x ON true
    LOOP
        IF r.n > max_matches THEN
            RETURN QUERY SELECT w.person_id, w.sort_name, max_matches + 1
                FROM tessera_walk_pair(q.keys[1], q.words[1], q.keys[2], q.words[2],
                    (SELECT string_agg(o || ':*', ' & ')::tsquery FROM unnest(q.words[3:]) o), lim, off) w;
            RETURN;
        END IF;
        IF r.id IS NOT NULL THEN
            person_id := r.id;
            sort_name := r.sort_name;
            total := r.n;
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;
