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

-- tessera_stem_query turns search text into the query of the stem index
-- for the rows that may match tessera_prefix_query: a word of seven or
-- more characters by its marked seven, one of four to six by its four.
-- Shorter words are left to tessera_prefix_query when the search has a
-- longer one ('555' of '555 4236' would only gather half the people);
-- a search of short words alone looks them up as prefixes of the stems.
-- The words hold only letters and digits, so they cannot break the syntax.
CREATE FUNCTION tessera_stem_query(text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT (CASE WHEN bool_or(length(lexeme) >= 4)
          THEN string_agg(CASE WHEN length(lexeme) >= 7 THEN '''~' || left(lexeme, 7) || ''''
                               WHEN length(lexeme) >= 4 THEN left(lexeme, 4) END, ' & ')
          ELSE string_agg(lexeme || ':*', ' & ') END)::tsquery
      FROM unnest(to_tsvector('simple', tessera_words($1))) $$;

-- Without a pending list, every search reads only the index proper.
CREATE INDEX people_search_stems ON people USING gin (tessera_search_stems(search_doc)) WITH (fastupdate = off);
DROP INDEX people_search;
