-- Searches of several words: every word of two letters or more narrows the
-- stem index, and a search with more than a thousand matches walks all its
-- words' keys together, index-only, instead of reading people.
--
-- A word of three letters had no key of its own in the stem index (0036),
-- so 'Ana García' gathered every García (2,555 rows of people for 100,000)
-- and read each to find the Anas among them: the slowest search of the
-- white pages benchmark (12 ms, 2,152 pages). Its first two letters are a
-- key ('^an'), a prefix of everything it matches: the index intersects it
-- with 'garc' and 473 rows are read instead (the 431 matches, Anas and
-- analysts). A word of one letter still has no key: it is checked on the
-- rows the others find.
CREATE OR REPLACE FUNCTION tessera_search_query(search text, OUT stems tsquery, OUT words tsquery)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
AS $$
DECLARE
    lexemes text[] := tsvector_to_array(to_tsvector('simple', tessera_words(search)));
BEGIN
    IF cardinality(lexemes) = 0 THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM unnest(lexemes) l WHERE length(l) = 2 OR length(l) >= 4) THEN
        stems := (SELECT string_agg(l || ':*', ' & ') FROM unnest(lexemes) l)::tsquery;
        RETURN;
    END IF;
    stems := (SELECT string_agg(CASE WHEN length(l) >= 7 THEN '''~' || left(l, 7) || ''''
                                     WHEN length(l) >= 4 THEN left(l, 4)
                                     WHEN length(l) >= 2 THEN '''^' || left(l, 2) || '''' END, ' & ')
              FROM unnest(lexemes) l)::tsquery;
    IF EXISTS (SELECT FROM unnest(lexemes) l WHERE length(l) NOT IN (2, 4, 7)) THEN
        words := (SELECT string_agg(l || ':*', ' & ') FROM unnest(lexemes) l)::tsquery;
    END IF;
END $$;

-- tessera_walk_words walks the people who have a word starting with each
-- of words (keys holding the key each is walked by, as
-- tessera_query_keys gives them), in name order, from off, at most lim:
-- each word's key is read in name order, index-only, and the readings are
-- merged. Only searches with more than a thousand matches walk (see
-- tessera_search_people), so every word's matches are dense in its key
-- and the merge stops after a few pages of each: 'Zürich Senior' read 11
-- index pages for its first page. Walking the first word's key and
-- reading each person's row to check the others read 1,186 (the walk
-- took 'senior', the more common word, and kept one person in five).
-- Each key length has its own index, so the statement is written for the
-- words it has and planned with them (EXECUTE); the words hold only
-- letters and digits, and are quoted all the same.
CREATE FUNCTION tessera_walk_words(keys text[], words text[], lim int, off int)
RETURNS TABLE (sort_name text, person_id uuid)
LANGUAGE plpgsql STABLE PARALLEL SAFE STRICT
AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT w1.sort_name, w1.person_id FROM %s ORDER BY 1, 2 LIMIT %s OFFSET %s',
        (SELECT string_agg(format(
                '%s(SELECT DISTINCT k.sort_name, k.person_id FROM person_search_words k
                    WHERE left(k.word, %s) = %L AND length(k.word) >= %s AND starts_with(k.word, %L)) w%s%s',
                CASE WHEN i > 1 THEN ' JOIN ' ELSE '' END, length(k), k, length(k), w, i,
                CASE WHEN i > 1 THEN ' USING (sort_name, person_id)' ELSE '' END), '' ORDER BY i)
         FROM unnest(keys, words) WITH ORDINALITY u(k, w, i)),
        lim, off);
END $$;

-- tessera_search_people (0060): more than a thousand matches of several
-- words are walked with all their keys.
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
        FROM tessera_walk_words(q.keys, q.words, lim, off) w;
END $$;
