-- Searches with more than a thousand matches of several words walk the
-- first word's key again, checking the others on each person's row (as
-- 0060), instead of merging every word's key (0080, tessera_walk_words).
--
-- The merge was one statement written for the search's words and planned
-- with them (EXECUTE): the planner guessed each key's matches from the
-- word's range in the index (29 people for 'resources', which 15,738
-- have), and on the benchmark's freshly seeded copy it chose plans that
-- read whole keys: the white pages benchmark's departments and offices
-- with a title went from a p95 of 4.5 and 7.0 ms to 65 and 75 ms.
-- The stem index keeps narrowing a word of three letters by its first two
-- (0080).
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

DROP FUNCTION tessera_walk_words(text[], text[], int, int);
