package syncsvc_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// addADUser creates a user directly in AD, as another administrator would.
func (f *fixture) addADUser(t *testing.T, cn, account, employeeID string) string {
	t.Helper()
	dn := syncsvc.ChildDN("CN", cn, f.ou)
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"user"})
	req.Attribute("sAMAccountName", []string{account})
	if employeeID != "" {
		req.Attribute("employeeID", []string{employeeID})
	}
	require.NoError(t, f.admin.Add(req))
	return dn
}

func TestBrownfieldJoinChangesNothingUntilExport(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	carol := f.person(t, "carol"+f.prefix, "Carol Chen", "HR")
	_ = carol
	// Carol's account exists already, under another name; an unrelated
	// account too.
	existing := f.addADUser(t, "cchen", "cc"+f.prefix, "Ecarol"+f.prefix)
	f.addADUser(t, "Someone Else", "se"+f.prefix, "")
	f.rules(t, func(u, g *syncsvc.SyncRule) { u.Provision, g.Provision = false, false })

	f.run(t, syncsvc.FullImport)
	sync := f.run(t, syncsvc.FullSync)
	require.Equal(t, 1, sync.Counts.Joins, "Carol joins her account by employeeID")
	require.Zero(t, sync.Counts.Adds)
	status, err := f.engine.Status(context.Background())
	require.NoError(t, err)
	require.Equal(t, 1, status[0].Unjoined, "the other account is listed as unjoined")

	// Nothing in AD changed: the rename to her display name waits.
	e := f.entry(t, "cc"+f.prefix)
	require.Equal(t, existing, e.DN)
	pending, err := f.engine.PendingExports(context.Background(), f.sys.ID, false, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, "CN=Carol Chen,OU=People,"+f.ou, pending[0].NewDN)

	exp := f.run(t, syncsvc.Export)
	require.Equal(t, 1, exp.Counts.Moves, exp.Message)
	e = f.entry(t, "cc"+f.prefix, "givenName", "title")
	require.Equal(t, "CN=Carol Chen,OU=People,"+f.ou, e.DN)
	require.Equal(t, "Carol", e.GetAttributeValue("givenName"))
	require.Equal(t, "Engineer", e.GetAttributeValue("title"))
}

func TestDeltaImportFlowsInboundByPrecedence(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	dave := f.person(t, "dave"+f.prefix, "Dave Dunn", "IT")
	f.rules(t, func(u, g *syncsvc.SyncRule) {
		u.Inbound = []syncsvc.InboundFlow{
			{MV: "phone", Expr: "cs.telephoneNumber", Precedence: 100},
			{MV: "title", Expr: "cs.title", Precedence: 100},
		}
	})
	f.run(t, syncsvc.FullImport)
	f.run(t, syncsvc.FullSync)
	f.run(t, syncsvc.Export)
	f.run(t, syncsvc.DeltaImport)

	// Another system with a higher precedence holds Dave's title.
	var other string
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO connected_systems (name, type, hosts, port, tls_mode, bind_user,
		bind_password_sealed, base_dn) VALUES ('HR', 'ad', '{hr.example}', 636, 'ldaps', 'x', '\x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d', 'DC=x')
		RETURNING id`).Scan(&other))
	_, err := f.pool.Exec(ctx, `INSERT INTO mv_attribute_sources VALUES ($1, 'title', $2, 10)`, dave, other)
	require.NoError(t, err)

	// Someone changes Dave's phone and title in AD directly.
	dn := f.entry(t, "dave"+f.prefix).DN
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace("telephoneNumber", []string{"+41 44 555 01 02"})
	mod.Replace("title", []string{"Chief Everything"})
	require.NoError(t, f.admin.Modify(mod))

	// A dynamic group of the people with a Zürich phone number.
	var zurich string
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy, membership_rule)
		VALUES ('zurich'||$1::text, 'Zürich phones', 'security', 'closed', 'person.phone.startsWith("+41 44")') RETURNING id`,
		f.prefix).Scan(&zurich))

	var oldPhone string
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT phone FROM people WHERE id = $1", dave).Scan(&oldPhone))
	imp := f.run(t, syncsvc.DeltaImport)
	require.Equal(t, 1, imp.Counts.Updates)
	f.run(t, syncsvc.DeltaSync)
	var phone, title string
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT phone, title FROM people WHERE id = $1", dave).Scan(&phone, &title))
	require.Equal(t, "+41 44 555 01 02", phone, "AD's phone flows in")
	// The audit entry records the phone before and after.
	var changes map[string]portal.AttributeChange
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT details->'changes' FROM audit_log WHERE action = 'sync_inbound'
		AND target_id = $1 ORDER BY id DESC LIMIT 1`, dave).Scan(&changes))
	require.Equal(t, map[string]portal.AttributeChange{"phone": {Old: oldPhone, New: "+41 44 555 01 02"}}, changes)
	var member bool
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND person_id = $2)",
		zurich, dave).Scan(&member))
	require.True(t, member, "the dynamic group follows the phone that flowed in")
	require.Equal(t, "Engineer", title, "HR's title has precedence over AD's")

	// The portal's title goes back to AD at the next export.
	exp := f.run(t, syncsvc.Export)
	require.Equal(t, 1, exp.Counts.Updates)
	require.Equal(t, "Engineer", f.entry(t, "dave"+f.prefix, "title").GetAttributeValue("title"))
}

func TestRenameMoveAndDeprovision(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	erin := f.person(t, "erin"+f.prefix, "Erin Evans", "Sales")
	f.rules(t, func(u, g *syncsvc.SyncRule) {
		u.DNTemplate = "CN={displayName},OU={department},OU=People," + f.ou
		u.Scope = `person.department != "Leavers"`
		u.Deprovision = syncsvc.DeprovisionDisable
		u.DeprovisionOU = "OU=Disabled," + f.ou
		u.InitialPassword, u.EnableOnCreate = "random", true
	})
	f.run(t, syncsvc.FullImport)
	f.run(t, syncsvc.FullSync)
	f.run(t, syncsvc.Export)
	e := f.entry(t, "erin"+f.prefix, "userAccountControl")
	require.Equal(t, "CN=Erin Evans,OU=Sales,OU=People,"+f.ou, e.DN)
	require.Equal(t, "512", e.GetAttributeValue("userAccountControl"), "enabled at creation with a random password")

	// A new name and department: rename and move.
	_, err := f.pool.Exec(ctx, "UPDATE people SET display_name = 'Erin Evans-Ortiz', department = 'Finance' WHERE id = $1", erin)
	require.NoError(t, err)
	sync := f.run(t, syncsvc.FullSync)
	require.Equal(t, 1, sync.Counts.Moves)
	f.run(t, syncsvc.Export)
	require.Equal(t, "CN=Erin Evans-Ortiz,OU=Finance,OU=People,"+f.ou, f.entry(t, "erin"+f.prefix).DN)

	// She leaves: disabled and moved out of the way.
	_, err = f.pool.Exec(ctx, "UPDATE people SET department = 'Leavers' WHERE id = $1", erin)
	require.NoError(t, err)
	f.run(t, syncsvc.FullSync)
	f.run(t, syncsvc.Export)
	e = f.entry(t, "erin"+f.prefix, "userAccountControl")
	require.Equal(t, "CN=Erin Evans-Ortiz,OU=Disabled,"+f.ou, e.DN)
	require.Equal(t, "514", e.GetAttributeValue("userAccountControl"))
}

func TestNamesThatNeedEscapingRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	names := []string{
		`Smith, John`, `A+B "quoted"`, `back\slash`, `<angle> brackets;`, `x=y`, `#hash first`,
		` leading and trailing `, `Ζωή Παπαδοπούλου`, `山田 太郎`, `Józef Łukasz Ñúñez`,
	}
	for i, n := range names {
		f.person(t, "esc"+f.prefix+string(rune('a'+i)), n, "IT")
	}
	f.rules(t, nil)
	f.run(t, syncsvc.FullImport)
	f.run(t, syncsvc.FullSync)
	exp := f.run(t, syncsvc.Export)
	require.Zero(t, exp.Counts.Errors)
	for i, n := range names {
		e := f.entry(t, "esc"+f.prefix+string(rune('a'+i)), "displayName")
		require.NotNil(t, e, n)
		rdn, err := syncsvc.RDNValue(e.DN)
		require.NoError(t, err)
		require.Equal(t, strings.TrimSpace(n), rdn, "the CN of %q", n)
		require.Equal(t, n, e.GetAttributeValue("displayName"))
	}
	// A second sync sees them converged: no renames from escaping.
	f.run(t, syncsvc.DeltaImport)
	again := f.run(t, syncsvc.FullSync)
	require.Zero(t, again.Counts.Renames+again.Counts.Moves+again.Counts.Updates, "%+v", again.Counts)
}

func TestDeletionThresholdStagingAndConflicts(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	var ids []string
	for _, n := range []string{"gwen", "hank", "ivy"} {
		ids = append(ids, f.person(t, n+f.prefix, strings.ToUpper(n[:1])+n[1:]+" Test", "Ops"))
	}
	// Someone else already holds jack's account name: without a join
	// rule on it, Tessera must not overwrite it.
	f.addADUser(t, "Jack Other", "jack"+f.prefix, "")
	jack := f.person(t, "jack"+f.prefix, "Jack Test", "Ops")
	f.rules(t, func(u, g *syncsvc.SyncRule) {
		u.JoinRules = []syncsvc.JoinRule{{CS: "employeeID", MV: "employeeId"}}
		u.Scope = `person.department == "Ops"`
		u.Deprovision = syncsvc.DeprovisionDelete
	})
	f.run(t, syncsvc.FullImport)
	f.run(t, syncsvc.FullSync)
	exp := f.run(t, syncsvc.Export)
	require.Equal(t, 1, exp.Counts.Errors, "jack's add is a conflict")
	errs, err := f.engine.PendingExports(ctx, f.sys.ID, true, 10)
	require.NoError(t, err)
	require.Len(t, errs, 1)
	require.Contains(t, errs[0].LastError, "not overwritten")
	require.Contains(t, errs[0].LastError, "LDAP", "the LDAP error text is kept")
	require.Equal(t, "CN=Jack Other,"+f.ou, f.entry(t, "jack"+f.prefix).DN, "the other account is untouched")
	_ = jack

	// Three leave; the threshold is two.
	sys := *f.sys
	sys.DeletionThreshold = 2
	_, err = f.systems.UpdateConnectedSystem(ctx, f.adminV, sys)
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, "UPDATE people SET department = 'Gone' WHERE id = ANY($1)", ids)
	require.NoError(t, err)
	f.run(t, syncsvc.FullSync)
	stopped, err := f.engine.Run(ctx, f.sys.ID, syncsvc.Export, syncsvc.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, "stopped", stopped.Status)
	require.Contains(t, stopped.Message, "would delete 3 objects")
	require.NotNil(t, f.entry(t, "gwen"+f.prefix), "nothing was deleted")

	// Staging: computed, never sent.
	sys.Staging = true
	_, err = f.systems.UpdateConnectedSystem(ctx, f.adminV, sys)
	require.NoError(t, err)
	staged, err := f.engine.Run(ctx, f.sys.ID, syncsvc.Export, syncsvc.RunOptions{ConfirmDeletes: true})
	require.NoError(t, err)
	require.Contains(t, staged.Message, "Staging")
	require.NotNil(t, f.entry(t, "gwen"+f.prefix))

	sys.Staging = false
	_, err = f.systems.UpdateConnectedSystem(ctx, f.adminV, sys)
	require.NoError(t, err)
	done, err := f.engine.Run(ctx, f.sys.ID, syncsvc.Export, syncsvc.RunOptions{ConfirmDeletes: true})
	require.NoError(t, err)
	require.Equal(t, 3, done.Counts.Deletes, done.Message)
	require.Nil(t, f.entry(t, "gwen"+f.prefix))

	// Preview shows what a sync would do, changing nothing.
	previews, err := f.engine.PreviewPerson(ctx, ids[0])
	require.NoError(t, err)
	require.NotEmpty(t, previews)
	require.Equal(t, portal.ErrorMessage(nil), "")
}

func TestNamesakesGetDistinctDNs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	f.person(t, "emma1"+f.prefix, "Emma Brown", "Finance")
	f.person(t, "emma2"+f.prefix, "Emma Brown", "Finance")
	f.rules(t, nil)
	f.run(t, syncsvc.FullImport)
	f.run(t, syncsvc.FullSync)
	exp := f.run(t, syncsvc.Export)
	require.Zero(t, exp.Counts.Errors)
	// Which of the two keeps the plain name depends on the order of the
	// sync; the other's name carries their account name.
	dns := []string{f.entry(t, "emma1"+f.prefix).DN, f.entry(t, "emma2"+f.prefix).DN}
	plain := "CN=Emma Brown,OU=People," + f.ou
	require.Contains(t, dns, plain)
	require.True(t, dns[0] == "CN=Emma Brown (emma1"+f.prefix+"),OU=People,"+f.ou ||
		dns[1] == "CN=Emma Brown (emma2"+f.prefix+"),OU=People,"+f.ou, "%v", dns)
	// Converged: no rename back and forth.
	f.run(t, syncsvc.DeltaImport)
	again := f.run(t, syncsvc.FullSync)
	require.Zero(t, again.Counts.Renames+again.Counts.Moves+again.Counts.Updates, "%+v", again.Counts)
	// A third one through a request-sized sync.
	id := f.person(t, "emma3"+f.prefix, "Emma Brown", "Finance")
	previews, err := f.engine.PreviewPerson(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "CN=Emma Brown (emma3"+f.prefix+"),OU=People,"+f.ou, previews[0].DN)
}

func TestProjectionCreatesPeopleFromAD(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	dn := f.addADUser(t, "Quinn Quill", "qq"+f.prefix, "Q"+f.prefix)
	mod := ldap.NewModifyRequest(dn, nil)
	mod.Replace("displayName", []string{"Quinn Quill"})
	mod.Replace("telephoneNumber", []string{"+44 20 7946 0000"})
	require.NoError(t, f.admin.Modify(mod))
	// A brownfield group Quinn manages, with Quinn, another account and a
	// group (no person) as members.
	other := f.addADUser(t, "Nia Here", "nh"+f.prefix, "")
	inner := syncsvc.ChildDN("CN", "Inner "+f.prefix, f.ou)
	add := ldap.NewAddRequest(inner, nil)
	add.Attribute("objectClass", []string{"group"})
	add.Attribute("sAMAccountName", []string{"inner" + f.prefix})
	require.NoError(t, f.admin.Add(add))
	groupDN := syncsvc.ChildDN("CN", "Project Q "+f.prefix, f.ou)
	add = ldap.NewAddRequest(groupDN, nil)
	add.Attribute("objectClass", []string{"group"})
	add.Attribute("sAMAccountName", []string{"projq" + f.prefix})
	add.Attribute("description", []string{"Quinn's project"})
	add.Attribute("managedBy", []string{dn})
	add.Attribute("member", []string{dn, other, inner})
	require.NoError(t, f.admin.Add(add))
	f.rules(t, func(u, g *syncsvc.SyncRule) {
		u.Projection, u.Provision, g.Provision = true, false, false
		g.Projection = true
	})
	var london string
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy, membership_rule)
		VALUES ('london'||$1::text, 'London phones', 'security', 'closed', 'person.phone.startsWith("+44 20")') RETURNING id`,
		f.prefix).Scan(&london))
	f.run(t, syncsvc.FullImport)
	sync := f.run(t, syncsvc.FullSync)
	require.Equal(t, 4, sync.Counts.Adds, "two people projected, and two groups")
	var name, phone, employee string
	var member bool
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT p.display_name, p.phone, p.employee_id,
			EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = $2 AND m.person_id = p.id) FROM people p
		JOIN cs_objects c ON c.person_id = p.id WHERE p.account_name = $1`, "qq"+f.prefix, london).Scan(&name, &phone, &employee, &member))
	require.True(t, member, "a projected person joins the dynamic groups their attributes match")
	require.Equal(t, "Quinn Quill", name)
	require.Equal(t, "+44 20 7946 0000", phone, "the inbound flows fill the new person")
	require.Equal(t, "Q"+f.prefix, employee)

	// The group is in the portal, joined, owned by the person managedBy
	// names; its members are the people its member values name.
	var gname, description, policy, owner string
	var members []string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT g.display_name, g.description, g.join_policy,
			(SELECT p.account_name FROM group_owners o JOIN people p ON p.id = o.person_id WHERE o.group_id = g.id),
			ARRAY(SELECT p.account_name FROM group_members m JOIN people p ON p.id = m.person_id WHERE m.group_id = g.id)
		FROM groups g JOIN cs_objects c ON c.group_id = g.id WHERE g.name = $1`, "projq"+f.prefix).
		Scan(&gname, &description, &policy, &owner, &members))
	require.Equal(t, "Project Q "+f.prefix, gname)
	require.Equal(t, "Quinn's project", description)
	require.Equal(t, "owner_approval", policy, "its owner approves requests to join it")
	require.Equal(t, "qq"+f.prefix, owner)
	slices.Sort(members)
	require.Equal(t, []string{"nh" + f.prefix, "qq" + f.prefix}, members)
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT join_policy FROM groups WHERE name = $1`, "inner"+f.prefix).Scan(&policy))
	require.Equal(t, "closed", policy, "a group without an owner is closed")
	again := f.run(t, syncsvc.FullSync)
	require.Zero(t, again.Counts.Adds, "projected once")
}

func TestScheduledCycleAndDeleteAfterDays(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	now := time.Now()
	f.engine.Now = func() time.Time { return now }
	rita := f.person(t, "rita"+f.prefix, "Rita Ray", "Ops")
	f.rules(t, func(u, g *syncsvc.SyncRule) {
		u.Scope = `person.department == "Ops"`
		u.Deprovision, u.DeleteAfterDays = syncsvc.DeprovisionDisable, 30
	})
	sys := *f.sys
	sys.DeltaInterval = time.Minute
	_, err := f.systems.UpdateConnectedSystem(ctx, f.adminV, sys)
	require.NoError(t, err)

	// Never cycled: due. The first cycle imports in full, syncs, exports.
	due, err := f.engine.DueCycles(ctx)
	require.NoError(t, err)
	require.Contains(t, due, f.sys.ID)
	require.NoError(t, f.engine.Cycle(ctx, f.sys.ID))
	require.NotNil(t, f.entry(t, "rita"+f.prefix))
	due, err = f.engine.DueCycles(ctx)
	require.NoError(t, err)
	require.NotContains(t, due, f.sys.ID, "not due again within the interval")

	// A change in the portal reaches AD with the next cycle.
	_, err = f.pool.Exec(ctx, "UPDATE people SET title = 'Lead', updated_at = now() WHERE id = $1", rita)
	require.NoError(t, err)
	require.NoError(t, f.engine.Cycle(ctx, f.sys.ID))
	require.Equal(t, "Lead", f.entry(t, "rita"+f.prefix, "title").GetAttributeValue("title"))

	// A membership changed outside a request (as a dynamic group's rule
	// does) reaches AD with the next cycle too.
	grp := f.group(t, "cyc"+f.prefix, rita)
	require.NoError(t, f.engine.Cycle(ctx, f.sys.ID))
	require.Empty(t, f.entry(t, "cyc"+f.prefix, "member").GetAttributeValues("member"))
	_, err = f.pool.Exec(ctx, "INSERT INTO group_members (group_id, person_id) VALUES ($1, $2)", grp, rita)
	require.NoError(t, err)
	require.NoError(t, f.engine.Cycle(ctx, f.sys.ID))
	require.Len(t, f.entry(t, "cyc"+f.prefix, "member").GetAttributeValues("member"), 1)

	// She leaves: disabled at once, deleted 30 days later.
	_, err = f.pool.Exec(ctx, "UPDATE people SET department = 'Gone', updated_at = now() WHERE id = $1", rita)
	require.NoError(t, err)
	require.NoError(t, f.engine.Cycle(ctx, f.sys.ID))
	var deprovisioned bool
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT deprovisioned_at IS NOT NULL FROM cs_objects WHERE person_id = $1", rita).
		Scan(&deprovisioned))
	require.True(t, deprovisioned, "deprovisioned (created without a password, the account was disabled already)")
	now = now.Add(29 * 24 * time.Hour)
	f.run(t, syncsvc.FullSync)
	f.run(t, syncsvc.Export)
	require.NotNil(t, f.entry(t, "rita"+f.prefix), "kept for 30 days")
	_, err = f.pool.Exec(ctx, "UPDATE cs_objects SET deprovisioned_at = deprovisioned_at - interval '30 days' WHERE person_id = $1", rita)
	require.NoError(t, err)
	f.run(t, syncsvc.FullSync)
	f.run(t, syncsvc.Export)
	require.Nil(t, f.entry(t, "rita"+f.prefix), "deleted after 30 days")
}

// Only one run per connected system at a time, across every process: the
// lock is a Postgres advisory lock, here held by another session.
func TestOneRunAtATimeAcrossProcesses(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	f.rules(t, nil)
	other, err := f.pool.Acquire(ctx)
	require.NoError(t, err)
	defer other.Release()
	_, err = other.Exec(ctx, "SELECT pg_advisory_lock(7261127, hashtext($1))", f.sys.ID)
	require.NoError(t, err)
	_, err = f.engine.Run(ctx, f.sys.ID, syncsvc.FullImport, syncsvc.RunOptions{})
	require.ErrorIs(t, err, syncsvc.ErrBusy)
	require.ErrorIs(t, f.engine.Cycle(ctx, f.sys.ID), portal.ErrTemporary, "a scheduled cycle tries again later")
	_, err = other.Exec(ctx, "SELECT pg_advisory_unlock(7261127, hashtext($1))", f.sys.ID)
	require.NoError(t, err)
	f.run(t, syncsvc.FullImport)
}

// TestDeletedInADReleasesItsRequests deletes accounts in AD while requests
// wait for their changes to be confirmed there: a delta import and a full
// import each note it on the request's timeline and complete it.
func TestDeletedInADReleasesItsRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	erin := f.person(t, "erin"+f.prefix, "Erin Eady", "Sales")
	finn := f.person(t, "finn"+f.prefix, "Finn Fox", "Sales")
	f.rules(t, nil)
	f.run(t, syncsvc.FullImport)
	f.run(t, syncsvc.FullSync)
	f.run(t, syncsvc.Export)
	f.run(t, syncsvc.DeltaImport)

	waiting := func(person string) string {
		var id string
		require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO requests (operation, person_id, changes, status)
			VALUES ('update_person', $1, '{"title": "Buyer"}', 'committed') RETURNING id`, person).Scan(&id))
		// Committed: the portal holds its change.
		_, err := f.pool.Exec(ctx, "UPDATE people SET title = 'Buyer' WHERE id = $1", person)
		require.NoError(t, err)
		_, err = f.pool.Exec(ctx, `INSERT INTO export_requests (cs_id, request_id, system_id, sent_at)
			SELECT id, $2, system_id, now() FROM cs_objects WHERE person_id = $1 AND system_id = $3`, person, id, f.sys.ID)
		require.NoError(t, err)
		return id
	}
	check := func(requestID string) {
		t.Helper()
		var status string
		require.NoError(t, f.pool.QueryRow(ctx, "SELECT status FROM requests WHERE id = $1", requestID).Scan(&status))
		require.Equal(t, "completed", status)
		rows, err := f.pool.Query(ctx, "SELECT kind, detail FROM request_events WHERE request_id = $1 ORDER BY id", requestID)
		require.NoError(t, err)
		var kinds, details []string
		var kind, detail string
		_, err = pgx.ForEachRow(rows, []any{&kind, &detail}, func() error {
			kinds, details = append(kinds, kind), append(details, detail)
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, []string{"export_skipped", "completed"}, kinds)
		require.Contains(t, details[0], f.sys.Name+" no longer has CN=")
		require.Contains(t, details[0], "deleted or moved out of scope there before the change was confirmed")
		var format, system, dn string
		require.NoError(t, f.pool.QueryRow(ctx, `SELECT detail_text->>'f', detail_text->'a'->0->>'s', detail_text->'a'->1->>'s'
			FROM request_events WHERE request_id = $1 AND kind = 'export_skipped'`, requestID).Scan(&format, &system, &dn))
		require.Equal(t, "%s no longer has %s: it was deleted or moved out of scope there before the change was confirmed.", format)
		require.Equal(t, f.sys.Name, system)
		require.True(t, strings.HasPrefix(dn, "CN="), dn)
	}

	byDelta := waiting(erin)
	require.NoError(t, f.admin.Del(ldap.NewDelRequest(f.entry(t, "erin"+f.prefix).DN, nil)))
	f.run(t, syncsvc.DeltaImport)
	check(byDelta)

	byFull := waiting(finn)
	require.NoError(t, f.admin.Del(ldap.NewDelRequest(f.entry(t, "finn"+f.prefix).DN, nil)))
	f.run(t, syncsvc.FullImport)
	check(byFull)
}
