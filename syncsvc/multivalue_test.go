package syncsvc_test

import (
	"context"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// TestMultiValuedRequestToAD: an administrator's change of multi-valued
// attributes (AD's otherTelephone, otherMailbox and url) reaches Samba as
// the whole new list (a replace: the value taken out is gone from AD, the
// new one there), the request completes with "exported" once the
// confirming import read it, and a value added in AD flows back in. Once a
// full import read AD's schema, a rule writing a list to an attribute of
// one value is refused when saved.
func TestMultiValuedRequestToAD(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	for _, a := range []portal.Attribute{
		{Name: "phones", Label: "Other phones", Type: portal.TypeStrings, MaxLen: 64},
		{Name: "mailboxes", Label: "Other mailboxes", Type: portal.TypeStrings, MaxLen: 256},
		{Name: "homePages", Label: "Web pages", Type: portal.TypeStrings, MaxLen: 256},
	} {
		require.NoError(t, f.db.AddAttribute(ctx, f.adminV, a))
	}
	kim := f.person(t, "kim"+f.prefix, "Kim Lists", "IT")
	_, err := f.pool.Exec(ctx, `UPDATE people SET extra = extra || jsonb_build_object('phones', E'+1 555 0100\n+1 555 0101',
		'mailboxes', 'kim@old.example', 'homePages', E'https://a.example/kim\nhttps://b.example/kim') WHERE id = $1`, kim)
	require.NoError(t, err)
	lists := func(u, _ *syncsvc.SyncRule) {
		u.Outbound = append(u.Outbound, syncsvc.OutboundFlow{CS: "otherTelephone", Expr: "person.phones"},
			syncsvc.OutboundFlow{CS: "otherMailbox", Expr: "person.mailboxes"},
			syncsvc.OutboundFlow{CS: "url", Expr: "person.homePages"})
		u.Inbound = append(u.Inbound, syncsvc.InboundFlow{MV: "homePages", Expr: "cs.url", Precedence: 100})
	}
	f.rules(t, lists)
	f.converge(t)
	values := func(attr string) []string {
		t.Helper()
		return f.entry(t, "kim"+f.prefix, attr).GetAttributeValues(attr)
	}
	require.ElementsMatch(t, []string{"+1 555 0100", "+1 555 0101"}, values("otherTelephone"))
	require.Equal(t, []string{"kim@old.example"}, values("otherMailbox"))
	require.ElementsMatch(t, []string{"https://a.example/kim", "https://b.example/kim"}, values("url"))

	// The full import read AD's schema: a list to an attribute of one value
	// (homePhone) is refused when the rule is saved, naming it, and
	// the rule in force stays as it was.
	u := syncsvc.DefaultUserRule(f.sys.ID, f.dc.BaseDN)
	u.DNTemplate = "CN={displayName},OU=People," + f.ou
	u.Outbound = append(u.Outbound, syncsvc.OutboundFlow{CS: "homePhone", Expr: "person.phones"})
	err = f.engine.SaveSyncRule(ctx, f.adminV, u)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%v", err)
	require.Contains(t, portal.ErrorMessage(err), "homePhone holds one value")
	u.Outbound[len(u.Outbound)-1].Expr = `person.phones.join(", ")`
	err = f.engine.SaveSyncRule(ctx, f.adminV, u)
	require.NoError(t, err, "joined into one value it is taken")
	f.rules(t, lists)

	harness.StartWorkers(t, f.db, nil, "http://tessera.test", f.engine)
	req, err := f.db.Submit(ctx, f.adminV, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: kim,
		Changes: map[string]string{"phones": "+1 555 0101\n+1 555 0199", "mailboxes": "", "homePages": "https://b.example/kim"}})
	require.NoError(t, err)
	var events []portal.RequestEvent
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got, ev, err := f.db.FindRequest(ctx, f.adminV, req.ID)
		require.NoError(c, err)
		assert.Equal(c, portal.StatusCompleted, got.Status)
		events = ev
	}, 30*time.Second, 50*time.Millisecond)
	var exported int
	for _, e := range events {
		if e.Kind == portal.KindExported {
			exported++
		}
	}
	require.Equal(t, 1, exported, "exported once, when the import confirmed it")
	require.ElementsMatch(t, []string{"+1 555 0101", "+1 555 0199"}, values("otherTelephone"), "the list replaced, not added to")
	require.Empty(t, values("otherMailbox"), "an empty list clears the attribute")
	require.Equal(t, []string{"https://b.example/kim"}, values("url"))

	// Someone adds a page in AD: it flows in with the one there.
	mod := ldap.NewModifyRequest(f.entry(t, "kim"+f.prefix).DN, nil)
	mod.Add("url", []string{"https://c.example/kim"})
	require.NoError(t, f.admin.Modify(mod))
	f.run(t, syncsvc.DeltaImport)
	f.run(t, syncsvc.DeltaSync)
	var pages string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT coalesce(extra->>'homePages', '') FROM people WHERE id = $1`, kim).Scan(&pages))
	require.ElementsMatch(t, []string{"https://b.example/kim", "https://c.example/kim"}, portal.SplitValues(pages))
}

// A rule saved before the first full import was checked against no schema;
// the full import reads AD's and checks the system's rules again: the one
// that writes a list to homePhone says it can no longer be exported, until
// it is saved again.
func TestFullImportRechecksRulesSavedBefore(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	require.NoError(t, f.db.AddAttribute(ctx, f.adminV, portal.Attribute{Name: "phones", Label: "Other phones", Type: portal.TypeStrings, MaxLen: 64}))
	u := syncsvc.DefaultUserRule(f.sys.ID, f.dc.BaseDN)
	u.DNTemplate = "CN={displayName},OU=People," + f.ou
	u.Outbound = append(u.Outbound, syncsvc.OutboundFlow{CS: "homePhone", Expr: "person.phones"})
	require.NoError(t, f.engine.SaveSyncRule(ctx, f.adminV, u), "no schema read yet")
	f.run(t, syncsvc.FullImport)
	rules, err := f.engine.SyncRules(ctx, f.sys.ID)
	require.NoError(t, err)
	require.Len(t, rules, 1)
	require.Contains(t, rules[0].SchemaError.String(), "homePhone holds one value")

	u.Outbound = u.Outbound[:len(u.Outbound)-1]
	require.NoError(t, f.engine.SaveSyncRule(ctx, f.adminV, u))
	rules, err = f.engine.SyncRules(ctx, f.sys.ID)
	require.NoError(t, err)
	require.True(t, rules[0].SchemaError.IsZero(), "saved again, it was checked against the schema")
}
