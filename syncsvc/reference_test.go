package syncsvc_test

import (
	"context"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// The manager flows out to AD as the DN of the manager's account, once
// that account exists, and in from AD as a DN resolved through the
// connector space, even to a person projected by the same sync. So does a
// reference attribute an administrator added (the assistant, AD's
// secretary), which rules read as the person's ID. A multi-valued text
// attribute flows out and in with all its values (AD's otherTelephone).
func TestManagerFlowsAsADistinguishedName(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	boss := f.person(t, "boss"+f.prefix, "Bea Boss", "IT")
	emp := f.person(t, "emp"+f.prefix, "Eli Employee", "IT")
	_, err := f.pool.Exec(ctx, "UPDATE people SET manager_id = $1 WHERE id = $2", boss, emp)
	require.NoError(t, err)
	require.NoError(t, f.db.AddAttribute(ctx, f.adminV, portal.Attribute{Name: "assistant", Label: "Assistant", Type: portal.TypeReference}))
	require.NoError(t, f.db.AddAttribute(ctx, f.adminV, portal.Attribute{Name: "phones", Label: "Other phones", Type: portal.TypeStrings,
		MaxLen: 64}))
	_, err = f.pool.Exec(ctx, `UPDATE people SET extra = extra || jsonb_build_object('assistant', $1::text, 'phones', E'+1 555 0100\n+1 555 0101')
		WHERE id = $2`, boss, emp)
	require.NoError(t, err)
	// Two accounts made in AD by someone else: a manager and her report.
	mgrDN := f.addADUser(t, "Mona Manager", "mona"+f.prefix, "")
	subDN := f.addADUser(t, "Sam Subordinate", "sam"+f.prefix, "")
	mod := ldap.NewModifyRequest(subDN, nil)
	mod.Replace("manager", []string{mgrDN})
	mod.Replace("secretary", []string{mgrDN})
	mod.Replace("otherTelephone", []string{"+44 20 7946 0000", "+44 20 7946 0001"})
	require.NoError(t, f.admin.Modify(mod))
	f.rules(t, func(u, g *syncsvc.SyncRule) {
		u.Projection = true
		u.Outbound = append(u.Outbound, syncsvc.OutboundFlow{CS: "secretary", Expr: "person.assistant"},
			syncsvc.OutboundFlow{CS: "otherTelephone", Expr: "person.phones"})
		u.Inbound = append(u.Inbound, syncsvc.InboundFlow{MV: "assistant", Expr: "cs.secretary", Precedence: 100},
			syncsvc.InboundFlow{MV: "phones", Expr: "cs.otherTelephone", Precedence: 100})
	})

	f.converge(t)
	// The first export created both accounts at once; the manager's DN
	// is written once the boss's account exists.
	f.run(t, syncsvc.DeltaSync)
	f.run(t, syncsvc.Export)
	bossEntry := f.entry(t, "boss"+f.prefix)
	require.NotNil(t, bossEntry)
	e := f.entry(t, "emp"+f.prefix, "manager", "secretary")
	require.NotNil(t, e)
	require.True(t, syncsvc.SameDN(bossEntry.DN, e.GetAttributeValue("manager")), "manager in AD: %q", e.GetAttributeValue("manager"))
	require.True(t, syncsvc.SameDN(bossEntry.DN, e.GetAttributeValue("secretary")), "assistant in AD: %q", e.GetAttributeValue("secretary"))
	require.ElementsMatch(t, []string{"+1 555 0100", "+1 555 0101"}, f.entry(t, "emp"+f.prefix, "otherTelephone").GetAttributeValues("otherTelephone"),
		"every value of a multi-valued attribute reaches AD")
	var phones string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT coalesce(extra->>'phones', '') FROM people WHERE account_name = $1`, "sam"+f.prefix).Scan(&phones))
	require.ElementsMatch(t, []string{"+44 20 7946 0000", "+44 20 7946 0001"}, portal.SplitValues(phones), "and every value comes in")
	assistantOf := func(account string) string {
		t.Helper()
		var name string
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT coalesce(a.account_name, '') FROM people p
			LEFT JOIN people a ON a.id::text = p.extra->>'assistant' WHERE p.account_name = $1`, account).Scan(&name))
		return name
	}
	require.Equal(t, "mona"+f.prefix, assistantOf("sam"+f.prefix), "AD's secretary DN resolves to the projected person")
	require.Equal(t, "boss"+f.prefix, assistantOf("emp"+f.prefix))
	// Rules read it as the person's ID.
	grp := f.group(t, "assisted"+f.prefix, boss)
	require.Error(t, f.db.SaveDynamicRule(ctx, f.adminV, grp, `person.assistant == 1`), "an ID is text")
	require.NoError(t, f.db.SaveDynamicRule(ctx, f.adminV, grp, `person.assistant == "`+boss+`"`))
	rows, err := f.pool.Query(ctx, `SELECT p.account_name FROM group_members m JOIN people p ON p.id = m.person_id WHERE m.group_id = $1`, grp)
	require.NoError(t, err)
	members, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"emp" + f.prefix}, members)

	var mgrOf string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT coalesce(m.account_name, '') FROM people p LEFT JOIN people m ON m.id = p.manager_id
		WHERE p.account_name = $1`, "sam"+f.prefix).Scan(&mgrOf))
	require.Equal(t, "mona"+f.prefix, mgrOf, "AD's manager DN resolves to the projected manager")

	// A later change in AD flows in too (the sync moved Sam's account
	// where the rule's DN template puts it).
	mod = ldap.NewModifyRequest(f.entry(t, "sam"+f.prefix).DN, nil)
	mod.Replace("manager", []string{bossEntry.DN})
	mod.Replace("secretary", []string{bossEntry.DN})
	require.NoError(t, f.admin.Modify(mod))
	f.run(t, syncsvc.DeltaImport)
	f.run(t, syncsvc.DeltaSync)
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT coalesce(m.account_name, '') FROM people p LEFT JOIN people m ON m.id = p.manager_id
		WHERE p.account_name = $1`, "sam"+f.prefix).Scan(&mgrOf))
	require.Equal(t, "boss"+f.prefix, mgrOf)
	require.Equal(t, "boss"+f.prefix, assistantOf("sam"+f.prefix), "DirSync's extended DN of secretary is read as its DN")
}
