-- What Tessera writes for people to read later is kept as its English
-- format and arguments too (portal.Text as JSON), beside the English text
-- (which the audit log, the command line and older rows have), so that each
-- reader reads it in their own language, as sync runs' messages are (0040):
-- a request's timeline entry, a failed export's error, an HR file's message.
-- NULL: a row written before, shown as its English text.
ALTER TABLE request_events ADD COLUMN detail_text jsonb;
ALTER TABLE cs_objects ADD COLUMN export_error_text jsonb;
ALTER TABLE hr_uploads ADD COLUMN message_text jsonb;

-- stored_text is a text with string arguments as portal.Text stores it
-- ({"f": format, "a": [{"s": arg}, ...]}), for the statements that write
-- one from the rows they change.
CREATE FUNCTION stored_text(f text, VARIADIC a text[] DEFAULT '{}') RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('f', f, 'a', coalesce(
        (SELECT jsonb_agg(jsonb_build_object('s', x) ORDER BY i) FROM unnest(a) WITH ORDINALITY AS t(x, i)), '[]'::jsonb))
$$;
