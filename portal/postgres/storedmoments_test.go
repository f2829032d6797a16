package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/migrations"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// TestSystemRequestsSayWhyInEachLanguage: a request Tessera makes itself
// (a time-bound membership's end) has no justification, a person's words;
// its timeline says why with the end kept as the instant, read in each
// reader's language and zone. Rows written before (an English
// justification, an approval's due time as English UTC words) are moved
// so by migration 0053 and read the same way; a row it cannot read stays
// as it was.
func TestSystemRequestsSayWhyInEachLanguage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	var admin portal.Viewer
	for _, a := range org.Accounts {
		if a.AccountName == "ada" {
			admin = portal.Viewer{PersonID: a.PersonID, DisplayName: a.AccountName, Roles: a.Roles}
		}
	}
	berlin := portal.ZoneOrUTC("Europe/Berlin")
	de, en := i18n.For("de").In(berlin), i18n.English()

	// A membership that ends now, ended by its timer.
	var groupID, personID string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT group_id::text, person_id::text FROM group_members WHERE NOT computed LIMIT 1`).
		Scan(&groupID, &personID))
	until := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	_, err := db.Pool.Exec(ctx, `UPDATE group_members SET expires_at = $3 WHERE group_id = $1 AND person_id = $2`, groupID, personID, until)
	require.NoError(t, err)
	require.NoError(t, db.ExpireMembership(ctx, groupID, personID, until))
	var id string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT id::text FROM requests WHERE requester_id IS NULL AND operation = 'remove_member'
		AND group_id = $1 AND person_id = $2`, groupID, personID).Scan(&id))
	req, events, err := db.FindRequest(ctx, admin, id)
	require.NoError(t, err)
	require.Empty(t, req.Justification, "Tessera writes no justification")
	require.Equal(t, "Die befristete Mitgliedschaft endete am "+de.Time(until, berlin)+" (vor 2 Stunden).", de.Text(events[0].Detail))
	require.Equal(t, "Time-bound membership ended on "+en.Time(until, time.UTC)+" (2 hours ago).", en.Text(events[0].Detail))

	// Rows as the version before wrote them.
	var old, unreadable, sent string
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO requests (operation, group_id, person_id, justification, status)
		VALUES ('remove_member', $1, $2, 'The membership ended on 5 Mar 2020, 14:30 UTC.', 'completed') RETURNING id`,
		groupID, personID).Scan(&old))
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO requests (operation, group_id, person_id, justification, status)
		VALUES ('remove_member', $1, $2, 'The membership ended on some day.', 'completed') RETURNING id`,
		groupID, personID).Scan(&unreadable))
	require.NoError(t, db.Pool.QueryRow(ctx, `INSERT INTO requests (operation, group_id, person_id, requester_id, justification, status)
		VALUES ('add_member', $1, $2, $2, 'please', 'authorizing') RETURNING id`, groupID, personID).Scan(&sent))
	_, err = db.Pool.Exec(ctx, `INSERT INTO request_events (request_id, kind, detail, detail_text) VALUES
		($1, 'submitted', 'Time-bound membership ended.', NULL),
		($2, 'submitted', 'Time-bound membership ended.', '{"f": "Time-bound membership ended."}'),
		($3, 'approval_requested', 'Sent to Anna; 1 of 1 needed; due 5 Mar 2020, 14:30 UTC.',
			'{"f": "Sent to %s; %d of %d needed; due %s.", "a": [{"t": {"f": "%s", "a": [{"s": "Anna"}]}}, {"n": 1}, {"n": 1}, {"s": "5 Mar 2020, 14:30 UTC"}]}')`,
		old, unreadable, sent)
	require.NoError(t, err)
	all, err := migrations.All()
	require.NoError(t, err)
	var moved bool
	for _, m := range all {
		if m.Version == 53 {
			_, err := db.Pool.Exec(ctx, m.SQL)
			require.NoError(t, err, "0053 again on rows as they were before")
			moved = true
		}
	}
	require.True(t, moved, "migration 0053 exists")

	req, events, err = db.FindRequest(ctx, admin, old)
	require.NoError(t, err)
	require.Empty(t, req.Justification)
	require.Equal(t, "Die befristete Mitgliedschaft endete am 5. März 2020, 15:30 CET.", de.Text(events[0].Detail))
	require.Equal(t, "Time-bound membership ended on 2020-03-05 14:30 UTC.", events[0].Detail.String(), "the English copy")
	req, events, err = db.FindRequest(ctx, admin, unreadable)
	require.NoError(t, err)
	require.Equal(t, "The membership ended on some day.", req.Justification, "a row 0053 cannot read stays")
	require.Equal(t, "Die befristete Mitgliedschaft ist beendet.", de.Text(events[0].Detail))
	_, events, err = db.FindRequest(ctx, admin, sent)
	require.NoError(t, err)
	require.Equal(t, "Gesendet an Anna; 1 von 1 nötig; fällig 5. März 2020, 15:30 CET.", de.Text(events[0].Detail))
}
