-- tessera_query_keys (0060) is PL/pgSQL instead of SQL: an SQL function
-- called from tessera_search_people is planned again at every call, and
-- every white pages search calls it once (0.10 ms of backend CPU for
-- 'mariana' at best; 0.05 ms with its statement's plan kept for the
-- session). Same words and keys, in the same order.
CREATE OR REPLACE FUNCTION tessera_query_keys(search text, OUT keys text[], OUT words text[])
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT
AS $$
BEGIN
    SELECT array_agg(left(w, CASE WHEN length(w) >= 6 THEN 6 WHEN length(w) >= 4 THEN 4 ELSE length(w) END)
               ORDER BY least(length(w), 6) DESC, length(w) DESC, w),
           array_agg(w ORDER BY least(length(w), 6) DESC, length(w) DESC, w)
    INTO keys, words
    FROM unnest(tsvector_to_array(to_tsvector('simple', tessera_words(search)))) w;
END $$;
