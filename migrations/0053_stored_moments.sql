-- Times inside stored sentences are kept as the instant ({"at": RFC 3339})
-- or the day ({"day": "YYYY-MM-DD"}), so that each reader reads them in
-- their own zone and language (portal.At, portal.Date); before, they were
-- English words in UTC ("5 Dec 2026, 14:30 UTC"). This moves the rows
-- written so:
--   - an approval's "Sent to …; due %s." timeline entry: its due time;
--   - a request Tessera made itself (a time-bound membership's or a
--     group's end, a person's last day): its English justification ("The
--     membership ended on …") becomes the timeline entry that says why
--     ("Time-bound membership ended on %s."); such a request has no
--     justification, which is a person's words.
-- A row whose words do not read as this version wrote them stays as it is
-- (it still reads as its English text).

-- english_instant reads the instant i18n.English().Time(t, UTC) wrote, as a
-- stored argument; NULL when s is not such a time.
CREATE FUNCTION pg_temp.english_instant(s text) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN m IS NOT NULL THEN jsonb_build_object('at', to_char(
        make_timestamptz(m[3]::int, array_position(ARRAY['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec'], m[2]),
            m[1]::int, m[4]::int, m[5]::int, 0, 'UTC') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) END
    FROM regexp_match(s, '^(\d{1,2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}), (\d{2}):(\d{2}) UTC$') AS m
$$;

-- english_copy is the English copy of an instant argument as portal.Moment
-- writes it ("2026-12-05 14:30 UTC").
CREATE FUNCTION pg_temp.english_copy(arg jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char((arg->>'at')::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')
$$;

UPDATE request_events SET detail_text = jsonb_set(detail_text, '{a,3}', pg_temp.english_instant(detail_text #>> '{a,3,s}'))
WHERE kind = 'approval_requested' AND detail_text->>'f' = 'Sent to %s; %d of %d needed; due %s.'
    AND pg_temp.english_instant(detail_text #>> '{a,3,s}') IS NOT NULL;

CREATE TEMP TABLE moved ON COMMIT DROP AS
SELECT id, old_detail, format, arg, replace(format, '%s', CASE WHEN arg ? 'day' THEN arg->>'day' ELSE pg_temp.english_copy(arg) END) AS english
FROM (
    SELECT id, 'Time-bound membership ended.' AS old_detail, 'Time-bound membership ended on %s.' AS format,
        pg_temp.english_instant(substring(justification FROM '^The membership ended on (.+)\.$')) AS arg
    FROM requests WHERE requester_id IS NULL AND operation = 'remove_member'
    UNION ALL
    SELECT id, 'The group expired.', 'The group expired on %s.',
        pg_temp.english_instant(substring(justification FROM '^The group expired on (.+)\.$'))
    FROM requests WHERE requester_id IS NULL AND operation = 'delete_group'
    UNION ALL
    SELECT id, 'The end date passed.', 'Their last day, %s, ended.',
        jsonb_build_object('day', substring(justification FROM '^Their last day, (\d{4}-\d{2}-\d{2}), ended\.$'))
    FROM requests WHERE requester_id IS NULL AND operation = 'update_person'
        AND justification ~ '^Their last day, \d{4}-\d{2}-\d{2}, ended\.$'
) t
WHERE arg IS NOT NULL;

UPDATE request_events e SET detail = m.english, detail_text = jsonb_build_object('f', m.format, 'a', jsonb_build_array(m.arg))
FROM moved m WHERE e.request_id = m.id AND e.kind = 'submitted' AND e.detail = m.old_detail;

UPDATE requests r SET justification = '' FROM moved m WHERE r.id = m.id;

DROP FUNCTION pg_temp.english_instant(text);
DROP FUNCTION pg_temp.english_copy(jsonb);
