-- The white pages' word index holds stems instead of whole words, so that
-- every word of a search is looked up exactly.
--
-- people_search held the folded words, and a search word matched every
-- word it starts ('zoe':*). GIN gathers all the rows of such a prefix
-- entry into a bitmap before it can intersect it with the other words,
-- so a word that nearly everyone has ('tessera' and 'example' of every
-- email, '555' of every phone) cost milliseconds even when another word
-- of the search matched one person. Exact keys are intersected by
-- skipping through the rarest one instead.
--
-- tessera_search_stems keeps, for each word of a search document, its
-- first four characters and, for a word of seven or more, its first seven
-- marked with '~' (so that a short prefix never reaches them): 'mariana
-- 555' becomes 'mari' '~mariana' '555'. Four characters are selective
-- enough for names and short enough for the digit groups of phone
-- numbers; seven tell 'financial' from 'finance'. Each word gives at most
-- two keys, so writing a person costs little more than the word index
-- did (array_to_tsvector drops the repeated keys).
CREATE FUNCTION tessera_search_stems(tsvector) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT array_to_tsvector(array_agg(left(w, 4)) || array_agg('~' || left(w, 7)) FILTER (WHERE length(w) >= 7))
      FROM unnest(tsvector_to_array($1)) w $$;

-- tessera_search_query turns search text into the two queries of a
-- search: stems, for the stem index, and words, the search itself
-- (tessera_prefix_query's), for the rows the stems find; words is NULL
-- when the stems alone decide. A word of seven or more characters is
-- looked up by its marked seven, one of four to six by its four. Shorter
-- words are left to words when the search has a longer one ('555' of
-- '555 4236' would only gather half the people); a search of short words
-- alone looks them up as prefixes of the stems, which decides. The stems
-- also decide when every word is a whole stem (four characters or seven).
-- In PL/pgSQL its statements are planned once per connection, not at
-- every search as an SQL function's body is. The words hold only letters
-- and digits, so they cannot break the syntax.
CREATE FUNCTION tessera_search_query(search text, OUT stems tsquery, OUT words tsquery)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
AS $$
DECLARE
    lexemes text[] := tsvector_to_array(to_tsvector('simple', tessera_words(search)));
BEGIN
    IF cardinality(lexemes) = 0 THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM unnest(lexemes) l WHERE length(l) >= 4) THEN
        stems := (SELECT string_agg(l || ':*', ' & ') FROM unnest(lexemes) l)::tsquery;
        RETURN;
    END IF;
    stems := (SELECT string_agg(CASE WHEN length(l) >= 7 THEN '''~' || left(l, 7) || ''''
                                     WHEN length(l) >= 4 THEN left(l, 4) END, ' & ')
              FROM unnest(lexemes) l)::tsquery;
    IF EXISTS (SELECT FROM unnest(lexemes) l WHERE length(l) NOT IN (4, 7)) THEN
        words := (SELECT string_agg(l || ':*', ' & ') FROM unnest(lexemes) l)::tsquery;
    END IF;
END $$;

-- Without a pending list, every search reads only the index proper.
CREATE INDEX people_search_stems ON people USING gin (tessera_search_stems(search_doc)) WITH (fastupdate = off);
DROP INDEX people_search;
