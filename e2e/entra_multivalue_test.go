package e2e_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
	"github.com/tessera-idm/tessera/workflow"
)

// TestEntraMultiValued: multi-valued attributes an administrator added
// reach Entra ID's String collections through the engine and the
// simulator. A rule that Graph could not follow is refused when it is
// saved, naming the flow; an administrator's change of the list is
// exported as the whole list and said to be exported once the confirming
// import read it; one Graph refuses (an accented address in otherMails)
// fails the request with Graph's words, never "exported"; and a collection
// Graph keeps (proxyAddresses) flows in with every value.
func TestEntraMultiValued(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := harness.Pool(t, harness.DatabaseURL(t))
	db := postgres.New(pool)
	// Jobs are inserted as the web tier does; the test runs the export
	// itself (exportRequest), as the sync_export job would.
	inserter, err := river.NewClient(riverpgxv5.New(pool), workflow.InsertOnlyConfig(nil))
	require.NoError(t, err)
	db.Jobs = inserter
	name := fmt.Sprintf("multi%d", time.Now().UnixNano()%1e6)
	s := newCloudEntra(t, db, name, graphsim.Config{}, 0)
	for _, a := range []portal.Attribute{
		{Name: "altMails", Label: "Other emails", Type: portal.TypeStrings, MaxLen: 128},
		{Name: "deskPhones", Label: "Desk phones", Type: portal.TypeStrings, MaxLen: 64},
		{Name: "aliases", Label: "Mail aliases", Type: portal.TypeStrings, MaxLen: 256},
	} {
		require.NoError(t, db.AddAttribute(ctx, s.admin, a))
	}

	base := entra.DefaultUserRule(s.sys.ID, s.domain)
	base.Scope = fmt.Sprintf("person.accountName.startsWith(%q)", name)
	for _, tc := range []struct {
		flow syncsvc.OutboundFlow
		says string
	}{
		{syncsvc.OutboundFlow{CS: "businessPhones", Expr: "person.deskPhones"}, "businessPhones takes only one value in Entra"},
		{syncsvc.OutboundFlow{CS: "companyName", Expr: "person.altMails"}, "companyName holds one value in Entra"},
		{syncsvc.OutboundFlow{CS: "proxyAddresses", Expr: "person.email"}, "proxyAddresses is read-only in Entra"},
		{syncsvc.OutboundFlow{CS: "imAddresses", Expr: "person.altMails"}, "imAddresses is read-only in Entra"},
		{syncsvc.OutboundFlow{CS: "faxNumber", Expr: "person.phone"}, "has no attribute faxNumber"},
	} {
		r := base
		r.Outbound = append(append([]syncsvc.OutboundFlow{}, base.Outbound...), tc.flow)
		err := s.engine.SaveSyncRule(ctx, s.admin, r)
		require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%s: %v", tc.flow.CS, err)
		require.ErrorContains(t, err, tc.says)
		require.ErrorContains(t, err, fmt.Sprintf("Outbound flow %d (%s)", len(r.Outbound), tc.flow.CS), "the message names the flow")
	}
	rule := base
	rule.Outbound = append(append([]syncsvc.OutboundFlow{}, base.Outbound...),
		syncsvc.OutboundFlow{CS: "otherMails", Expr: "person.altMails"},
		syncsvc.OutboundFlow{CS: "businessPhones", Expr: "person.phone"},
		syncsvc.OutboundFlow{CS: "mail", Expr: "person.email"})
	rule.Inbound = []syncsvc.InboundFlow{{MV: "aliases", Expr: "cs.proxyAddresses", Precedence: 100}}
	require.NoError(t, s.engine.SaveSyncRule(ctx, s.admin, rule))

	var pid string
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO people (account_name, given_name, surname, display_name, email, phone, extra)
		VALUES ($1, 'Mia', 'Multi', 'Mia Multi', $2, '+49 30 901820', jsonb_build_object('altMails', 'mia@fabrikam.com'))
		RETURNING id`, name+"1", name+"1@"+s.domain).Scan(&pid))
	s.run(t, syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport, syncsvc.DeltaSync)
	conn, err := entra.OpenSystem(ctx, *s.sys, s.secret)
	require.NoError(t, err)
	conn.ImportAlso([]string{"otherMails", "businessPhones", "proxyAddresses"})
	dn := entra.UserDN(name + "1@" + s.domain)
	user := func() syncsvc.ImportedObject {
		t.Helper()
		o, err := conn.Read(ctx, "", dn)
		require.NoError(t, err)
		return o
	}
	o := user()
	require.Equal(t, []string{"mia@fabrikam.com"}, o.Attributes["otherMails"])
	require.Equal(t, []string{"+49 30 901820"}, o.Attributes["businessPhones"], "one value in a collection")
	extra := func(attr string) []string {
		t.Helper()
		var v string
		require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(extra->>$2, '') FROM people WHERE id = $1`, pid, attr).Scan(&v))
		return portal.SplitValues(v)
	}
	require.Equal(t, []string{"SMTP:" + name + "1@" + s.domain}, extra("aliases"), "Graph's proxyAddresses flow in")

	// An administrator changes the list: every value is sent, and the
	// timeline says exported once the confirming import read them.
	req, err := db.Submit(ctx, s.admin, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: pid,
		Changes: map[string]string{"altMails": "mia.m@example.org\nmia@fabrikam.com\nm.multi@example.net"}})
	require.NoError(t, err)
	exportRequest(t, s.engine, req.ID)
	require.ElementsMatch(t, []string{"mia.m@example.org", "mia@fabrikam.com", "m.multi@example.net"}, user().Attributes["otherMails"])
	var status string
	var exported int
	state := func(id string) {
		t.Helper()
		require.NoError(t, pool.QueryRow(ctx, `SELECT status, (SELECT count(*) FROM request_events WHERE request_id = r.id AND kind = 'exported')
			FROM requests r WHERE id = $1`, id).Scan(&status, &exported))
	}
	state(req.ID)
	require.Equal(t, "completed", status, debugRequest(t, pool, req.ID))
	require.Equal(t, 1, exported, debugRequest(t, pool, req.ID))

	// Graph refuses an accented address in otherMails: the request fails
	// with Graph's words and is never said to be exported; Entra ID keeps
	// the list it had.
	req, err = db.Submit(ctx, s.admin, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: pid,
		Changes: map[string]string{"altMails": "mia@fabrikam.com\nmïa@example.org"}})
	require.NoError(t, err)
	exportRequest(t, s.engine, req.ID)
	state(req.ID)
	require.Equal(t, "failed", status, debugRequest(t, pool, req.ID))
	require.Zero(t, exported)
	require.Contains(t, debugRequest(t, pool, req.ID), "Invalid value specified for property 'otherMails' of resource 'User'.")
	require.ElementsMatch(t, []string{"mia.m@example.org", "mia@fabrikam.com", "m.multi@example.net"}, user().Attributes["otherMails"])
}
