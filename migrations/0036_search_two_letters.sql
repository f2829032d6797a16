-- Two-letter searches are looked up exactly, as four- and seven-letter ones
-- already are.
--
-- A search word of two letters ('ol', what a person types first) was a
-- prefix of the stems: GIN gathered every stem starting with it ('olga',
-- 'oliv', 'olse', ...) into a bitmap of its own before the search's, about
-- half of such a search's time. Each word of a search document now also
-- gives its first two characters marked with '^' ('mariana' adds '^ma'),
-- so that a two-letter word is one exact key, as a four-letter one is.
-- The index grows by a third; a person's keys are still written in one
-- array_to_tsvector.
DROP INDEX people_search_stems;

CREATE OR REPLACE FUNCTION tessera_search_stems(tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT array_to_tsvector(array_agg(left(w, 4))
          || array_agg('~' || left(w, 7)) FILTER (WHERE length(w) >= 7)
          || array_agg('^' || left(w, 2)) FILTER (WHERE length(w) >= 2))
      FROM unnest(tsvector_to_array($1)) w $$;

-- tessera_search_query (see 0031) looks a word of two characters up by its
-- marked two; the stems decide when every word is a whole key (two, four
-- or seven characters). Words of one or three characters are left to
-- words when the search has a word with a key, and a search of such words
-- alone looks them up as prefixes of the stems, which decides.
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
                                     WHEN length(l) = 2 THEN '''^' || l || '''' END, ' & ')
              FROM unnest(lexemes) l)::tsquery;
    IF EXISTS (SELECT FROM unnest(lexemes) l WHERE length(l) NOT IN (2, 4, 7)) THEN
        words := (SELECT string_agg(l || ':*', ' & ') FROM unnest(lexemes) l)::tsquery;
    END IF;
END $$;

-- Without a pending list, every search reads only the index proper.
CREATE INDEX people_search_stems ON people USING gin (tessera_search_stems(search_doc)) WITH (fastupdate = off);
