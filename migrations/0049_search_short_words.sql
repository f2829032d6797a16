-- A word of four or five letters is looked up by its first three, a key
-- it shares with common words ('marta' with 'marketing'): walking that
-- key to count a rare word's matches read a whole department (20 ms in
-- make bench). Such a word takes the path of several words instead: the
-- stem index gathers its matches, sorted when they are few, and the key
-- is walked in name order only when they are many (and so dense in it).
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
