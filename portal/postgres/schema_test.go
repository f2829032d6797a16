package postgres_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

func int64p(n int64) *int64 { return &n }

// TestSchemaAttributes: administrators add extra person attributes whose
// names every system can read; a person's values show on their profile to
// the people the attribute's visibility allows; an attribute a rule,
// policy or sync flow uses cannot be removed or retyped, and the refusal
// names them; every change is audited.
func TestSchemaAttributes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	admin := demoViewer(t, org, "ada")

	// Names and definitions that some system could not take are refused.
	for _, c := range []struct {
		a    portal.Attribute
		code string
	}{
		{portal.Attribute{Name: "in", Label: "In", Type: portal.TypeString}, portal.EINVALID},
		{portal.Attribute{Name: "Badge", Label: "Badge", Type: portal.TypeString}, portal.EINVALID},
		{portal.Attribute{Name: "cost-centre", Label: "Cost", Type: portal.TypeString}, portal.EINVALID},
		{portal.Attribute{Name: "extension_1234_badge", Label: "Badge", Type: portal.TypeString}, portal.EINVALID},
		{portal.Attribute{Name: strings.Repeat("a", portal.MaxAttributeName+1), Label: "Long", Type: portal.TypeString}, portal.EINVALID},
		{portal.Attribute{Name: "dEPARTMENT", Label: "Dept", Type: portal.TypeString}, portal.ECONFLICT},
		{portal.Attribute{Name: "Pronouns", Label: "Pronouns", Type: portal.TypeString}, portal.EINVALID},
		{portal.Attribute{Name: "pronouns", Label: "Pronouns", Type: portal.TypeString}, portal.ECONFLICT},
		{portal.Attribute{Name: "badge", Label: " ", Type: portal.TypeString}, portal.EINVALID},
		{portal.Attribute{Name: "badge", Label: "Badge", Type: "float"}, portal.EINVALID},
		{portal.Attribute{Name: "badge", Label: "Badge", Type: portal.TypeString, MaxLen: portal.MaxAttributeLen + 1}, portal.EINVALID},
		{portal.Attribute{Name: "badge", Label: "Badge", Type: portal.TypeInt, Min: int64p(5), Max: int64p(1)}, portal.EINVALID},
		{portal.Attribute{Name: "badge", Label: "Badge", Type: portal.TypeString, Visibility: "friends"}, portal.EINVALID},
	} {
		err := db.AddAttribute(ctx, admin, c.a)
		require.Equal(t, c.code, portal.ErrorCode(err), "%+v: %v", c.a, err)
		require.NotEmpty(t, portal.ErrorMessage(err))
	}

	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "clearance", Label: "Clearance level",
		Type: portal.TypeInt, Min: int64p(1), Max: int64p(5), Visibility: portal.VisibleToHelpdesk}))
	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "skills", Label: "Skills",
		Type: portal.TypeStrings, MaxLen: 40}))
	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "mentor", Label: "Mentor",
		Type: portal.TypeReference, Visibility: portal.VisibleToSelf}))
	schema, err := db.Schema(ctx)
	require.NoError(t, err)
	skills, ok := schema.Lookup("skills")
	require.True(t, ok)
	require.Equal(t, 40, skills.MaxLen)
	clearance, _ := schema.Lookup("clearance")
	require.Equal(t, int64(5), *clearance.Max)

	// A person's values, as the profile shows them to each viewer.
	zoe, mentor := org.People[5], org.People[6]
	_, err = db.Pool.Exec(ctx, `UPDATE people SET extra = extra || jsonb_build_object('clearance', '4', 'skills', E'Go\nRust', 'mentor', $2::text)
		WHERE id = $1`, zoe.ID, mentor.ID)
	require.NoError(t, err)
	values := func(v portal.Viewer) map[string]string {
		prof, err := db.FindProfile(ctx, zoe.ID)
		require.NoError(t, err)
		prof.Redact(v)
		out := map[string]string{}
		for _, a := range prof.Attributes {
			out[a.Name] = a.Value
			if a.Type == portal.TypeReference {
				out[a.Name] = a.RefName
			}
		}
		return out
	}
	everyone := portal.Viewer{PersonID: org.People[7].ID}
	require.Equal(t, "Go\nRust", values(everyone)["skills"])
	require.NotContains(t, values(everyone), "clearance", "helpdesk only")
	require.NotContains(t, values(everyone), "mentor", "the person, helpdesk and administrators only")
	self := values(portal.Viewer{PersonID: zoe.ID})
	require.Equal(t, mentor.DisplayName, self["mentor"], "a reference reads as the person's name")
	require.NotContains(t, self, "clearance")
	helpdesk := values(portal.Viewer{PersonID: org.People[7].ID, Roles: []portal.Role{portal.RoleHelpdesk}})
	require.Equal(t, "4", helpdesk["clearance"])

	// A rule uses clearance and a set uses skills: neither is removed nor
	// retyped, and the refusal names them.
	group := org.Groups[2]
	require.NoError(t, db.SaveDynamicRule(ctx, admin, group.ID, `person.clearance >= 3`))
	set, err := db.CreateSet(ctx, admin, portal.Set{Name: "Gophers", Rule: `"Go" in person.skills`})
	require.NoError(t, err)
	var members int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM group_members WHERE group_id = $1 AND person_id = $2",
		group.ID, zoe.ID).Scan(&members))
	require.Equal(t, 1, members, "the rule reads the new attribute")

	err = db.RemoveAttribute(ctx, admin, "clearance")
	var inUse *portal.AttributeInUseError
	require.True(t, errors.As(err, &inUse), "%v", err)
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err))
	require.Equal(t, []portal.AttributeUse{{Kind: portal.UseDynamicGroup, ID: group.ID, Name: group.DisplayName}}, inUse.Uses)
	require.Contains(t, portal.ErrorMessage(err), group.DisplayName)
	changed := *clearance
	changed.Type = portal.TypeString
	err = db.UpdateAttribute(ctx, admin, changed)
	require.True(t, errors.As(err, &inUse), "retyping is refused too: %v", err)
	uses, err := db.AttributeUses(ctx, "skills")
	require.NoError(t, err)
	require.Equal(t, []portal.AttributeUse{{Kind: portal.UseSet, ID: set.ID, Name: "Gophers"}}, uses)

	// A new label or audience is fine; limits that someone's value breaks
	// are not.
	changed = *clearance
	changed.Label = "Security clearance"
	changed.Visibility = portal.VisibleToAdmins
	require.NoError(t, db.UpdateAttribute(ctx, admin, changed))
	require.NotContains(t, values(portal.Viewer{Roles: []portal.Role{portal.RoleHelpdesk}}), "clearance")
	changed.Max = int64p(3)
	err = db.UpdateAttribute(ctx, admin, changed)
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err), "%v", err)
	require.Contains(t, portal.ErrorMessage(err), zoe.DisplayName)

	// Once the rule no longer reads it, the attribute goes, with its values.
	require.NoError(t, db.SaveDynamicRule(ctx, admin, group.ID, `person.department == "IT"`))
	require.NoError(t, db.RemoveAttribute(ctx, admin, "clearance"))
	var held bool
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM people WHERE extra ? 'clearance')").Scan(&held))
	require.False(t, held)
	_, err = db.FindAttribute(ctx, "clearance")
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))

	var actions []string
	rows, err := db.Pool.Query(ctx, `SELECT action || ':' || target_id FROM audit_log
		WHERE target_type = 'attribute' ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		actions = append(actions, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"attribute_added:clearance", "attribute_added:skills", "attribute_added:mentor",
		"attribute_changed:clearance", "attribute_removed:clearance"}, actions)
}

// TestSchemaSyncRuleUses: a sync rule's outbound flow and DN template that
// read an attribute keep it from being removed.
func TestSchemaSyncRuleUses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := setup(t)
	admin := portal.TesseraViewer()
	systems := postgres.NewConnectedSystems(db, newSealer(t))
	sys, err := systems.CreateConnectedSystem(ctx, admin, portal.ConnectedSystem{Name: "Corp AD",
		Type: portal.SystemAD, Hosts: []string{"127.0.0.1"}, Port: 1, TLSMode: portal.TLSLDAPS, BindUser: "svc@corp.example",
		BindPassword: "x", BaseDN: "DC=corp,DC=example", Enabled: true})
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO sync_rules (system_id, class, outbound, dn_template) VALUES ($1, 'user',
		'[{"cs": "extensionAttribute1", "expr": "person.pronouns"}]', 'CN={displayName},OU={costCenter},DC=corp,DC=example')`, sys.ID)
	require.NoError(t, err)
	for name, where := range map[string]portal.Text{"pronouns": portal.Textf("outbound flow to %s", "extensionAttribute1"),
		"costCenter": portal.Textf("DN template")} {
		err := db.RemoveAttribute(ctx, admin, name)
		var inUse *portal.AttributeInUseError
		require.True(t, errors.As(err, &inUse), "%s: %v", name, err)
		require.Equal(t, []portal.AttributeUse{{Kind: portal.UseSyncRule, ID: sys.ID, Name: "Corp AD", Where: where}}, inUse.Uses)
	}
	require.NoError(t, db.RemoveAttribute(ctx, admin, "startDate"), "nothing uses it")
}

// TestSchemaEditableThroughPolicies: a person asks to change an extra
// attribute that is editable, under a policy that covers it; values its
// type or range do not take are refused; a policy cannot cover an
// attribute that is not editable, and one a policy covers stays editable.
func TestSchemaEditableThroughPolicies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	admin := demoViewer(t, org, "ada")
	zoe := org.People[9]
	me := portal.Viewer{PersonID: zoe.ID, DisplayName: zoe.DisplayName}

	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "deskNumber", Label: "Desk number",
		Type: portal.TypeInt, Min: int64p(1), Max: int64p(500), Editable: true}))
	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "languages", Label: "Languages",
		Type: portal.TypeStrings, MaxLen: 20, Editable: true}))
	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "badge", Label: "Badge", Type: portal.TypeString}))
	require.NoError(t, db.AddAttribute(ctx, admin, portal.Attribute{Name: "buddy", Label: "Buddy", Type: portal.TypeReference, Editable: true}))

	_, err := db.CreatePolicy(ctx, admin, portal.Policy{Name: "Own badge", Enabled: true, Operation: portal.OpUpdatePerson,
		Requestor: portal.RequestorSelf, Attributes: []string{"badge"}})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "badge is not editable: %v", err)
	pol, err := db.CreatePolicy(ctx, admin, portal.Policy{Name: "Own desk and languages", Enabled: true, Operation: portal.OpUpdatePerson,
		Requestor: portal.RequestorSelf, Attributes: []string{"languages", "deskNumber", "office", "buddy"}})
	require.NoError(t, err)
	require.Equal(t, []string{"office", "buddy", "deskNumber", "languages"}, pol.Attributes, "the table's order: core attributes first")

	for _, bad := range []map[string]string{{"deskNumber": "501"}, {"deskNumber": "twelve"}, {"languages": strings.Repeat("x", 21)},
		{"buddy": "zoe"}, {"buddy": "00000000-0000-4000-8000-000000000000"}} {
		_, err := db.Submit(ctx, me, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.ID, Changes: bad})
		require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%v: %v", bad, err)
	}
	// Not editable by the person: no policy grants it to her.
	_, err = db.Submit(ctx, me, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.ID, Changes: map[string]string{"badge": "B-1"}})
	require.Equal(t, portal.EFORBIDDEN, portal.ErrorCode(err), "%v", err)
	req, err := db.Submit(ctx, me, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.ID,
		Changes: map[string]string{"deskNumber": " 042 ", "languages": "Irish\nEnglish\nIrish"}})
	require.NoError(t, err)
	require.NotEqual(t, portal.StatusAuthorizing, req.Status, "the policy grants it at once")
	var desk, langs string
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT extra->>'deskNumber', extra->>'languages' FROM people WHERE id = $1", zoe.ID).
		Scan(&desk, &langs))
	require.Equal(t, "42", desk, "stored as its type writes it")
	require.Equal(t, "Irish\nEnglish", langs)
	// A reference names a person, under the same policy.
	_, err = db.Submit(ctx, me, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.ID,
		Changes: map[string]string{"buddy": org.People[3].ID}})
	require.NoError(t, err)
	prof, err := db.FindProfile(ctx, zoe.ID)
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(prof.Attributes, func(a portal.AttributeValue) bool {
		return a.Name == "buddy" && a.Value == org.People[3].ID && a.RefName == org.People[3].DisplayName
	}), "%+v", prof.Attributes)

	// Cleared with an empty value.
	_, err = db.Submit(ctx, me, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.ID,
		Changes: map[string]string{"deskNumber": ""}})
	require.NoError(t, err)
	var held bool
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT extra ? 'deskNumber' FROM people WHERE id = $1", zoe.ID).Scan(&held))
	require.False(t, held)

	desk2, err := db.FindAttribute(ctx, "deskNumber")
	require.NoError(t, err)
	desk2.Editable = false
	err = db.UpdateAttribute(ctx, admin, *desk2)
	var inUse *portal.AttributeInUseError
	require.True(t, errors.As(err, &inUse), "%v", err)
	require.Equal(t, []portal.AttributeUse{{Kind: portal.UsePolicy, ID: pol.ID, Name: pol.Name}}, inUse.Uses)
}
