package syncsvc_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// converge runs the cycle that brings a new fixture's system in step.
func (f *fixture) converge(t *testing.T) {
	t.Helper()
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		f.run(t, p)
	}
}

// annInAD makes Ann Lee of IT, who may change the attributes named of her
// own profile at once (a policy without approval), and brings her
// account into AD with the default rules.
func (f *fixture) annInAD(t *testing.T, attributes ...string) string {
	t.Helper()
	ann := f.person(t, "ann"+f.prefix, "Ann Lee", "IT")
	_, err := f.pool.Exec(context.Background(), `INSERT INTO policies (name, operation, requestor, attributes)
		VALUES ('Own name', 'update_person', 'self', $1)`, attributes)
	require.NoError(t, err)
	f.rules(t, nil)
	f.converge(t)
	return ann
}

// A name change that AD refuses (a given name over its 64 characters)
// leaves the account as it was: not renamed to the new display name with
// the old given name.
func TestRefusedModifyUndoesTheRename(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	ann := f.person(t, "ann"+f.prefix, "Ann Lee", "IT")
	f.rules(t, nil)
	f.converge(t)
	oldDN := "CN=Ann Lee,OU=People," + f.ou
	require.Equal(t, oldDN, f.entry(t, "ann"+f.prefix).DN)

	_, err := f.pool.Exec(ctx, `UPDATE people SET given_name = $2, surname = 'Leeson', display_name = 'Ann Leeson',
		updated_at = now() WHERE id = $1`, ann, strings.Repeat("G", 65))
	require.NoError(t, err)
	f.run(t, syncsvc.FullSync)
	exp, err := f.engine.Run(ctx, f.sys.ID, syncsvc.Export, syncsvc.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, exp.Counts.Errors, "AD refuses the given name: %+v", exp.Counts)

	e := f.entry(t, "ann"+f.prefix, "givenName", "sn", "displayName")
	require.Equal(t, oldDN, e.DN, "the rename is undone")
	require.Equal(t, "Ann", e.GetAttributeValue("givenName"))
	require.Equal(t, "Lee", e.GetAttributeValue("sn"))
	require.Equal(t, "Ann Lee", e.GetAttributeValue("displayName"))
	pending, err := f.engine.PendingExports(ctx, f.sys.ID, true, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1, "the export waits, with AD's error")
	require.Equal(t, oldDN, pending[0].DN)
}

// A delta cycle whose watermark cannot be read stops with the error: it
// does not take the watermark for missing and run a full import.
func TestCycleStopsWhenTheWatermarkCannotBeRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	f.rules(t, nil)
	_, err := f.pool.Exec(ctx, "ALTER TABLE connected_systems RENAME COLUMN watermark TO watermark_gone")
	require.NoError(t, err)
	err = f.engine.Cycle(ctx, f.sys.ID)
	require.Error(t, err)
	require.Contains(t, err.Error(), "watermark")
	runs, err := f.engine.Runs(ctx, f.sys.ID, 10)
	require.NoError(t, err)
	require.Empty(t, runs, "no import was started")
}

// The repro: a name AD refuses (r1), then an unrelated change to
// the same account (r2, carried by the same refused export), then a new
// given name that AD takes (r3). r1's values never reached AD: it stays
// failed and says r3 superseded it, instead of "exported" and "completed";
// r2's phone number did reach AD with r3's export, so r2 completes.
func TestTimelineOfARefusedRequestSaysWhatHappened(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	ann := f.annInAD(t, "givenName", "surname", "displayName")
	// A system whose limits are not known yet lets the name through
	// submission, as every system did before they were read.
	for _, table := range []string{"cs_attribute_limits", "person_attribute_limits"} {
		_, err := f.pool.Exec(ctx, "DELETE FROM "+table+" WHERE system_id = $1", f.sys.ID)
		require.NoError(t, err)
	}
	harness.StartWorkers(t, f.db, nil, "http://tessera.test", f.engine)
	annV := portal.Viewer{PersonID: ann, DisplayName: "Ann Lee"}
	submit := func(changes map[string]string, want portal.RequestStatus) string {
		t.Helper()
		req, err := f.db.Submit(ctx, annV, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: ann, Changes: changes})
		require.NoError(t, err)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			got, _, err := f.db.FindRequest(ctx, annV, req.ID)
			require.NoError(c, err)
			assert.Equal(c, want, got.Status)
		}, 30*time.Second, 50*time.Millisecond)
		return req.ID
	}
	r1 := submit(map[string]string{"givenName": strings.Repeat("G", 65), "surname": "Leeson", "displayName": "Ann Leeson"}, portal.StatusFailed)
	r2 := submit(map[string]string{"phone": "+41 44 555 01 02"}, portal.StatusFailed)
	r3 := submit(map[string]string{"givenName": "Annabel"}, portal.StatusCompleted)

	timeline := func(id string) (portal.RequestStatus, []portal.EventKind, []string) {
		t.Helper()
		got, events, err := f.db.FindRequest(ctx, annV, id)
		require.NoError(t, err)
		var kinds []portal.EventKind
		var details []string
		for _, e := range events {
			kinds, details = append(kinds, e.Kind), append(details, e.Detail.String())
		}
		return got.Status, kinds, details
	}
	status, kinds, details := timeline(r1)
	require.Equal(t, portal.StatusFailed, status, "a failed request stays failed")
	require.Equal(t, []portal.EventKind{portal.KindSubmitted, portal.KindCommitted, portal.KindExportFailed, portal.KindSuperseded}, kinds)
	require.Contains(t, details[3], r3, "superseded by the request that changed the given name")
	status, kinds, _ = timeline(r2)
	require.Equal(t, portal.StatusCompleted, status, "its phone number reached AD with r3's export")
	require.Equal(t, []portal.EventKind{portal.KindSubmitted, portal.KindCommitted, portal.KindExportFailed, portal.KindExported,
		portal.KindCompleted}, kinds)
	status, kinds, _ = timeline(r3)
	require.Equal(t, portal.StatusCompleted, status)
	require.Equal(t, []portal.EventKind{portal.KindSubmitted, portal.KindCommitted, portal.KindExported, portal.KindCompleted}, kinds)
	// A failure is audited like every other change, by Tessera, with AD's
	// words: once for each request it failed.
	for _, id := range []string{r1, r2} {
		var n int
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE action = 'request_failed'
			AND target_type = 'request' AND target_id = $1 AND actor_id IS NULL AND details->>'detail' <> ''`, id).Scan(&n))
		require.Equal(t, 1, n, "request %s's failure is audited once", id)
	}

	e := f.entry(t, "ann"+f.prefix, "givenName", "sn", "displayName", "telephoneNumber")
	require.Equal(t, "CN=Ann Leeson,OU=People,"+f.ou, e.DN)
	require.Equal(t, "Annabel", e.GetAttributeValue("givenName"))
	require.Equal(t, "Leeson", e.GetAttributeValue("sn"))
	require.Equal(t, "+41 44 555 01 02", e.GetAttributeValue("telephoneNumber"))
}

// A full import reads the attribute limits from AD's schema (rangeUpper):
// a given name over givenName's 64 characters is refused at submission,
// with the system and the limit, before anyone approves it.
func TestSubmissionRefusesWhatTheSchemaWouldRefuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	ann := f.annInAD(t, "givenName", "surname", "displayName")
	var given, display int
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT
		(SELECT max_len FROM person_attribute_limits WHERE system_id = $1 AND attribute = 'givenName'),
		(SELECT max_len FROM person_attribute_limits WHERE system_id = $1 AND attribute = 'displayName')`, f.sys.ID).Scan(&given, &display))
	require.Equal(t, 64, given, "givenName's rangeUpper")
	require.Equal(t, 256, display, "displayName's rangeUpper")

	harness.StartWorkers(t, f.db, nil, "http://tessera.test", f.engine)
	annV := portal.Viewer{PersonID: ann, DisplayName: "Ann Lee"}
	_, err := f.db.Submit(ctx, annV, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: ann,
		Changes: map[string]string{"givenName": strings.Repeat("G", 65), "displayName": "Ann Leeson"}})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%v", err)
	require.Contains(t, portal.ErrorMessage(err), f.sys.Name)
	require.Contains(t, portal.ErrorMessage(err), "givenName takes at most 64")
	_, err = f.db.Submit(ctx, annV, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: ann,
		Changes: map[string]string{"givenName": strings.Repeat("G", 64)}})
	require.NoError(t, err, "64 characters are taken")
	// A person created by hand is checked against the same limits.
	adminV := portal.Viewer{PersonID: ann, DisplayName: "Ann Lee", Roles: []portal.Role{portal.RoleAdmin}}
	_, err = f.db.Submit(ctx, adminV, portal.NewRequest{Operation: portal.OpCreatePerson,
		Changes: map[string]string{"accountName": "long" + f.prefix, "displayName": "Long Given", "givenName": strings.Repeat("G", 65)}})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%v", err)
	require.Contains(t, portal.ErrorMessage(err), "givenName takes at most 64")

	// A rule that no longer copies the given name as it is lifts the limit.
	f.rules(t, func(u, _ *syncsvc.SyncRule) {
		for i := range u.Outbound {
			if u.Outbound[i].CS == "givenName" {
				u.Outbound[i].Expr = `person.givenName + ""`
			}
		}
	})
	_, err = f.db.Submit(ctx, annV, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: ann,
		Changes: map[string]string{"givenName": strings.Repeat("H", 65)}})
	require.NoError(t, err)
}

// A committed request whose values a later request overtook before the
// system confirmed them ends superseded, naming that request, and is
// never "exported".
func TestOvertakenRequestIsSuperseded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	ann := f.person(t, "ann"+f.prefix, "Ann Lee", "IT")
	f.rules(t, nil)
	f.converge(t)
	committed := func(title string, linked bool) string {
		t.Helper()
		var id string
		require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO requests (operation, person_id, changes, status)
			VALUES ('update_person', $1, jsonb_build_object('title', $2::text), 'committed') RETURNING id`, ann, title).Scan(&id))
		_, err := f.pool.Exec(ctx, "UPDATE people SET title = $2 WHERE id = $1", ann, title)
		require.NoError(t, err)
		if linked {
			_, err = f.pool.Exec(ctx, `INSERT INTO export_requests (cs_id, request_id, system_id, sent_at)
				SELECT id, $2, system_id, now() FROM cs_objects WHERE person_id = $1 AND system_id = $3`, ann, id, f.sys.ID)
			require.NoError(t, err)
		}
		return id
	}
	first := committed("Buyer", true)
	second := committed("Seller", false) // not sent yet when the import confirms the first
	f.run(t, syncsvc.DeltaImport)

	var status string
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT status FROM requests WHERE id = $1", first).Scan(&status))
	require.Equal(t, string(portal.StatusSuperseded), status)
	var kinds, details []string
	rows, err := f.pool.Query(ctx, "SELECT kind, detail FROM request_events WHERE request_id = $1 ORDER BY id", first)
	require.NoError(t, err)
	var kind, detail string
	_, err = pgx.ForEachRow(rows, []any{&kind, &detail}, func() error {
		kinds, details = append(kinds, kind), append(details, detail)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, []string{"superseded"}, kinds, "no exported, no completed")
	require.Contains(t, details[0], second)
	// Kept as text too, read in each reader's language: the request is an
	// argument, not part of the sentence.
	var format, by string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT detail_text->>'f', detail_text->'a'->0->>'s' FROM request_events
		WHERE request_id = $1 AND kind = 'superseded'`, first).Scan(&format, &by))
	require.True(t, strings.HasPrefix(format, "Superseded by request %s"), format)
	require.Equal(t, second, by)
}

// TestLinkingAndCompletionSerialise: a request is linked to a system's
// export and completed by another system's confirmation in transactions
// that may overlap (a cycle's sync of one system while an import of the
// other confirms). Whichever takes the request first, the other sees what
// it did: a completion never misses a link made meanwhile (it would
// complete the request before that system confirmed it), and a link is
// never made to a request that completed meanwhile (its confirmation
// would write "exported" after "completed"). Each overlap is made to
// happen by holding one transaction open while the other waits on it.
func TestLinkingAndCompletionSerialise(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	ann := f.person(t, "ann"+f.prefix, "Ann Lee", "IT")
	f.rules(t, nil)
	f.converge(t)
	committed := func(title string) string {
		t.Helper()
		var id string
		require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO requests (operation, person_id, changes, status)
			VALUES ('update_person', $1, jsonb_build_object('title', $2::text), 'committed') RETURNING id`, ann, title).Scan(&id))
		_, err := f.pool.Exec(ctx, "UPDATE people SET title = $2 WHERE id = $1", ann, title)
		require.NoError(t, err)
		return id
	}
	// waitBlocked waits until a statement of this test's database waits
	// for a lock the test holds.
	waitBlocked := func(what string) {
		t.Helper()
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			var n int
			require.NoError(c, f.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
				AND wait_event_type = 'Lock'`).Scan(&n))
			assert.Positive(c, n)
		}, time.Minute, 10*time.Millisecond, what)
	}
	status := func(id string) string {
		var s string
		require.NoError(t, f.pool.QueryRow(ctx, "SELECT status FROM requests WHERE id = $1", id).Scan(&s))
		return s
	}

	t.Run("a completion sees the link made while it waited", func(t *testing.T) {
		req := committed("Buyer")
		// Another system's sync links the request to its export, and has
		// not committed yet...
		link, err := f.pool.Begin(ctx)
		require.NoError(t, err)
		defer link.Rollback(ctx)
		_, err = link.Exec(ctx, `INSERT INTO export_requests (cs_id, request_id, system_id)
			SELECT id, $2, system_id FROM cs_objects WHERE person_id = $1 AND system_id = $3`, ann, req, f.sys.ID)
		require.NoError(t, err)
		// ... while the request is settled (no other system holds it).
		settled := make(chan error, 1)
		go func() {
			settled <- pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error { return f.db.SettleRequestsTx(ctx, tx, []string{req}) })
		}()
		waitBlocked("the settling waits for the linking transaction")
		require.NoError(t, link.Commit(ctx))
		require.NoError(t, <-settled)
		require.Equal(t, "committed", status(req), "it waits for the export it was linked to")
		f.run(t, syncsvc.DeltaSync)
		f.run(t, syncsvc.Export)
		f.run(t, syncsvc.DeltaImport)
		require.Equal(t, "completed", status(req), "completed once that export was confirmed")
	})

	t.Run("a link is not made to a request completed while it waited", func(t *testing.T) {
		req := committed("Seller")
		// The request completes in a transaction that has not committed
		// yet...
		done, err := f.pool.Begin(ctx)
		require.NoError(t, err)
		defer done.Rollback(ctx)
		require.NoError(t, f.db.SettleRequestsTx(ctx, done, []string{req}))
		// ... while a sync computes the export of the changed person and
		// links the requests it carries.
		synced := make(chan *syncsvc.Run, 1)
		go func() {
			r, err := f.engine.Run(ctx, f.sys.ID, syncsvc.DeltaSync, syncsvc.RunOptions{})
			if err != nil {
				t.Errorf("delta sync: %v", err)
			}
			synced <- r
		}()
		waitBlocked("the sync waits for the completing transaction")
		require.NoError(t, done.Commit(ctx))
		require.NotNil(t, <-synced)
		require.Equal(t, "completed", status(req))
		var links int
		require.NoError(t, f.pool.QueryRow(ctx, "SELECT count(*) FROM export_requests WHERE request_id = $1", req).Scan(&links))
		require.Zero(t, links, "no link to a completed request")
		f.run(t, syncsvc.Export)
		f.run(t, syncsvc.DeltaImport)
		rows, err := f.pool.Query(ctx, "SELECT kind FROM request_events WHERE request_id = $1 ORDER BY id", req)
		require.NoError(t, err)
		kinds, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, "completed", kinds[len(kinds)-1], "nothing after completed: %v", kinds)
	})
}

// An export run sends its plain modifies to AD several at a time (the AD
// connector's window): each object's result is still its own. AD's
// refusal of two in the middle of a window leaves just those two waiting
// with AD's error and the others exported; the users the run adds are in
// AD before the group it adds and the group it changes name them.
func TestWindowedExportRecordsEachResultInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	var people, accounts []string
	for i := range 20 {
		account := fmt.Sprintf("w%02d%s", i, f.prefix)
		accounts = append(accounts, account)
		people = append(people, f.person(t, account, fmt.Sprintf("Wanda W%02d", i), "IT"))
	}
	f.group(t, "old"+f.prefix, people[0], people[0])
	f.rules(t, nil)
	f.converge(t)

	var added []string
	for i := range 3 {
		added = append(added, f.person(t, fmt.Sprintf("n%02d%s", i, f.prefix), fmt.Sprintf("Neo N%02d", i), "IT"))
	}
	f.group(t, "new"+f.prefix, people[0], added...)
	_, err := f.pool.Exec(ctx, `INSERT INTO group_members (group_id, person_id)
		SELECT g.id, p FROM groups g, unnest($2::uuid[]) p WHERE g.name = $1`, "old"+f.prefix, added)
	require.NoError(t, err)
	refused := map[string]bool{accounts[7]: true, accounts[13]: true}
	_, err = f.pool.Exec(ctx, `UPDATE people SET given_name = CASE WHEN account_name = ANY ($2) THEN repeat('G', 65)
		ELSE 'Given ' || account_name END, updated_at = now() WHERE id = ANY ($1)`, people, []string{accounts[7], accounts[13]})
	require.NoError(t, err)
	f.run(t, syncsvc.FullSync)
	exp, err := f.engine.Run(ctx, f.sys.ID, syncsvc.Export, syncsvc.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, "completed_with_errors", exp.Status, exp.Message)
	require.Equal(t, 2, exp.Counts.Errors, "%+v", exp.Counts)
	require.Equal(t, 4, exp.Counts.Adds, "three users and a group: %+v", exp.Counts)
	require.Equal(t, 19, exp.Counts.Updates, "18 users and the old group: %+v", exp.Counts)

	for _, account := range accounts {
		want := "Given " + account
		if refused[account] {
			want = "Wanda"
		}
		require.Equal(t, want, f.entry(t, account, "givenName").GetAttributeValue("givenName"), account)
	}
	pending, err := f.engine.PendingExports(ctx, f.sys.ID, true, 10)
	require.NoError(t, err)
	require.Len(t, pending, 2, "the refused two wait, and nothing else")
	for _, p := range pending {
		require.Equal(t, "error", p.Status, p.DN)
		require.Contains(t, []string{f.entry(t, accounts[7]).DN, f.entry(t, accounts[13]).DN}, p.DN)
		require.Contains(t, p.LastError, "givenName", "AD's own words")
	}

	var addedDNs []string
	for i := range added {
		e := f.entry(t, fmt.Sprintf("n%02d%s", i, f.prefix))
		require.NotNil(t, e, "the added user is in AD")
		addedDNs = append(addedDNs, e.DN)
	}
	members := func(group string) []string {
		return f.entry(t, group, "member").GetAttributeValues("member")
	}
	require.ElementsMatch(t, addedDNs, members("new"+f.prefix))
	require.ElementsMatch(t, append([]string{f.entry(t, accounts[0]).DN}, addedDNs...), members("old"+f.prefix))
}
