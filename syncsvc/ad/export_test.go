package ad_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

func TestEscapeRDNValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Ada Lovelace":       "Ada Lovelace",
		"Smith, John":        `Smith\, John`,
		`a+b"c\d<e>f;g=h`:    `a\+b\"c\\d\<e\>f\;g\=h`,
		"#1 fan":             `\#1 fan`,
		"No #1":              "No #1",
		" lead and trail ":   `\ lead and trail\ `,
		"line\nbreak":        `line\0Abreak`,
		"Σωκράτης Παπαδάκης": "Σωκράτης Παπαδάκης",
	} {
		require.Equal(t, want, syncsvc.EscapeRDNValue(in), in)
		got, err := syncsvc.RDNValue(syncsvc.ChildDN("CN", in, "OU=x,DC=y"))
		require.NoError(t, err)
		require.Equal(t, in, got)
	}
}

// Names with every character AD needs escaped, created through the
// connector and read back by sAMAccountName: the RDN and cn are the input.
func TestDNEscapingRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t, harness.Samba(t))
	names := []string{
		`Smith, John`, `a+b`, `Say "hi"`, `back\slash`, `<angle>`, `semi;colon`, `x=y`,
		`#hash`, `mid#hash`, ` leading space`, `trailing space `, `  both  `,
		`all ,+"\<>;=# chars`, `Σωκράτης Παπαδάκης`, `Иван Петров`, `王小明`, `محمد علي`, `O'Brien-Núñez`,
	}
	// An OU whose own name needs escaping, as a parent of every user.
	parent := b.mkOU(t, `Sales, "EMEA" + #1`, b.ou)
	for i, name := range names {
		sam := fmt.Sprintf("%se%02d", b.prefix, i)
		res := b.addUser(t, name, parent, sam)
		entry := b.findSAM(t, sam, "cn", "distinguishedName")
		require.NotNil(t, entry, name)
		got, err := syncsvc.RDNValue(entry.DN)
		require.NoError(t, err, entry.DN)
		require.Equal(t, name, got, "RDN of %q", entry.DN)
		require.Equal(t, name, entry.GetAttributeValue("cn"))
		require.True(t, (&ldap.DN{RDNs: mustParse(t, entry.DN).RDNs[1:]}).Equal(mustParse(t, parent)), "parent of %q", entry.DN)
		// The connector's own DN names the same entry.
		require.True(t, mustParse(t, res.DN).EqualFold(mustParse(t, entry.DN)), "%s vs %s", res.DN, entry.DN)

		// A rename to another such name round-trips as well.
		newDN := syncsvc.ChildDN("CN", name+" (2)", parent)
		b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportRename, DN: res.DN, NewDN: newDN})
		got, err = syncsvc.RDNValue(b.findSAM(t, sam).DN)
		require.NoError(t, err)
		require.Equal(t, name+" (2)", got)
	}
}

func mustParse(t *testing.T, dn string) *ldap.DN {
	t.Helper()
	p, err := ldap.ParseDN(dn)
	require.NoError(t, err, dn)
	return p
}

func TestCreateModifyRenameMoveDelete(t *testing.T) {
	t.Parallel()
	b := setup(t, harness.Samba(t))
	ctx := context.Background()
	sam := b.prefix + "u"
	res := b.addUser(t, "Ada Lovelace", b.ou, sam,
		syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "givenName", Values: []string{"Ada"}},
		syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "sn", Values: []string{"Lovelace"}},
		syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "displayName", Values: []string{"Ada Lovelace"}},
		syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "mail", Values: []string{"ada@tessera.test"}},
		syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "employeeID", Values: []string{"E1815"}},
		syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "title", Values: []string{"Analyst"}},
		syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "department", Values: []string{"Engines"}},
	)
	entry := b.findSAM(t, sam, "*")
	require.NotNil(t, entry)
	require.Equal(t, "CN=Ada Lovelace,"+b.ou, entry.DN)
	for name, want := range map[string]string{"givenName": "Ada", "sn": "Lovelace", "displayName": "Ada Lovelace",
		"mail": "ada@tessera.test", "employeeID": "E1815", "title": "Analyst", "department": "Engines",
		"userPrincipalName": sam + "@" + b.dc.Realm, "userAccountControl": "546"} {
		require.Equal(t, want, entry.GetAttributeValue(name), name)
	}
	// The anchor is the objectGUID: AD finds the entry by it.
	byGUID := b.find(t, "(objectGUID="+ldap.EscapeFilter(string(entry.GetRawAttributeValue("objectGUID")))+")")
	require.Equal(t, entry.DN, byGUID.DN)
	guid, err := ad.GUIDString(entry.GetRawAttributeValue("objectGUID"))
	require.NoError(t, err)
	require.Equal(t, guid, res.Anchor)

	// Modify: replace, clear, add and delete values.
	b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: res.DN, Attributes: []syncsvc.AttributeChange{
		{Op: syncsvc.AttributeReplace, Name: "title", Values: []string{"Countess"}},
		{Op: syncsvc.AttributeReplace, Name: "department"},
		{Op: syncsvc.AttributeAddValues, Name: "otherTelephone", Values: []string{"1", "2", "3"}},
	}})
	b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: res.DN, Attributes: []syncsvc.AttributeChange{
		{Op: syncsvc.AttributeDeleteValues, Name: "otherTelephone", Values: []string{"2", "absent"}},
		{Op: syncsvc.AttributeAddValues, Name: "otherTelephone", Values: []string{"3", "4"}},
	}})
	entry = b.findSAM(t, sam, "title", "department", "otherTelephone")
	require.Equal(t, "Countess", entry.GetAttributeValue("title"))
	require.Empty(t, entry.GetAttributeValues("department"))
	require.ElementsMatch(t, []string{"1", "3", "4"}, entry.GetAttributeValues("otherTelephone"))

	// Rename in place, then move to another OU and rename at once.
	renamed := "CN=Ada King," + b.ou
	r := b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportRename, DN: res.DN, NewDN: renamed})
	require.Equal(t, renamed, r.DN)
	require.Equal(t, res.Anchor, r.Anchor, "the anchor survives a rename")
	require.Equal(t, renamed, b.findSAM(t, sam).DN)
	other := b.mkOU(t, "Leavers", b.ou)
	moved := "CN=Ada Lovelace King," + other
	r = b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportRename, DN: renamed, NewDN: moved})
	require.Equal(t, res.Anchor, r.Anchor)
	require.Equal(t, moved, b.findSAM(t, sam).DN)

	// Errors carry AD's result code and text; the batch goes on.
	results := b.conn.Export(ctx, []syncsvc.ExportChange{
		{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectUser, DN: moved,
			Attributes: []syncsvc.AttributeChange{{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{sam + "x"}}}},
		{Op: syncsvc.ExportDelete, DN: moved},
		{Op: syncsvc.ExportDelete, DN: moved},
	})
	var adErr *ad.Error
	require.ErrorAs(t, results[0].Err, &adErr)
	require.Equal(t, uint16(ldap.LDAPResultEntryAlreadyExists), adErr.ResultCode)
	require.NotEmpty(t, adErr.Diagnostic)
	require.Contains(t, adErr.Error(), moved)
	require.NoError(t, results[1].Err)
	require.Nil(t, b.findSAM(t, sam), "deleted")
	require.ErrorAs(t, results[2].Err, &adErr)
	require.Equal(t, uint16(ldap.LDAPResultNoSuchObject), adErr.ResultCode)
}

func TestPasswordEnableDisableUnlock(t *testing.T) {
	t.Parallel()
	b := setup(t, harness.Samba(t))
	ctx := context.Background()
	sam := b.prefix + "p"
	upn := sam + "@" + b.dc.Realm
	const password = "Analytical-Engine-1843"
	res := b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectUser,
		DN: "CN=Grace Hopper," + b.ou, Password: password, Enabled: true,
		Attributes: []syncsvc.AttributeChange{
			{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{sam}},
			{Op: syncsvc.AttributeReplace, Name: "userPrincipalName", Values: []string{upn}},
		}})
	require.Equal(t, "512", b.findSAM(t, sam, "userAccountControl").GetAttributeValue("userAccountControl"))
	require.NoError(t, bind(t, b.dc, upn, password))

	// A reset: the new password binds, the old one no longer does.
	require.NoError(t, b.conn.SetPassword(ctx, res.DN, password+"-2"))
	require.True(t, ldap.IsErrorWithCode(bind(t, b.dc, upn, password), ldap.LDAPResultInvalidCredentials))
	require.NoError(t, bind(t, b.dc, b.dc.Domain+`\`+sam, password+"-2"))

	// A password the domain refuses comes back with AD's reason.
	err := b.conn.SetPassword(ctx, res.DN, "short")
	var adErr *ad.Error
	require.ErrorAs(t, err, &adErr)
	require.NotZero(t, adErr.ResultCode)
	require.NotEmpty(t, adErr.Diagnostic)

	// Disable and enable keep the other bits (here: password never expires).
	mod := ldap.NewModifyRequest(res.DN, nil)
	mod.Replace("userAccountControl", []string{fmt.Sprint(0x200 | 0x10000)})
	require.NoError(t, b.admin.Modify(mod))
	require.NoError(t, b.conn.SetEnabled(ctx, res.DN, false))
	require.Equal(t, fmt.Sprint(0x200|0x10000|0x2), b.findSAM(t, sam, "userAccountControl").GetAttributeValue("userAccountControl"))
	require.Error(t, bind(t, b.dc, upn, password+"-2"), "a disabled account cannot bind")
	require.NoError(t, b.conn.SetEnabled(ctx, res.DN, false), "disabling twice is fine")
	require.NoError(t, b.conn.SetEnabled(ctx, res.DN, true))
	require.Equal(t, fmt.Sprint(0x200|0x10000), b.findSAM(t, sam, "userAccountControl").GetAttributeValue("userAccountControl"))
	require.NoError(t, bind(t, b.dc, upn, password+"-2"))

	// Users are created disabled unless asked.
	b.addUser(t, "Disabled Dan", b.ou, sam+"d")
	require.Equal(t, "546", b.findSAM(t, sam+"d", "userAccountControl").GetAttributeValue("userAccountControl"))

	// Unlocking an account that was never locked succeeds and writes
	// nothing (TestUnlockAfterLockout unlocks a real lockout).
	unlocked, err := b.conn.Unlock(ctx, res.DN)
	require.NoError(t, err)
	require.False(t, unlocked, "nothing to unlock")
	require.Empty(t, b.findSAM(t, sam, "lockoutTime").GetAttributeValue("lockoutTime"), "lockoutTime stays unset")
}

// A real lockout needs a domain lockout policy: a domain of its own.
func TestUnlockAfterLockout(t *testing.T) {
	t.Parallel()
	dc := harness.FreshSamba(t)
	b := setup(t, dc)
	mod := ldap.NewModifyRequest(dc.BaseDN, nil)
	mod.Replace("lockoutThreshold", []string{"2"})
	require.NoError(t, b.admin.Modify(mod))

	sam := b.prefix + "l"
	upn := sam + "@" + dc.Realm
	const password = "Lock-Me-Out-42"
	res := b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectUser,
		DN: "CN=Locked Out," + b.ou, Password: password, Enabled: true,
		Attributes: []syncsvc.AttributeChange{
			{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{sam}},
			{Op: syncsvc.AttributeReplace, Name: "userPrincipalName", Values: []string{upn}},
		}})
	for range 3 {
		require.Error(t, bind(t, dc, upn, "wrong"))
	}
	err := bind(t, dc, upn, password)
	require.Error(t, err, "locked out")
	require.Contains(t, err.Error(), "775", "AD's code for a locked account")
	require.NotEqual(t, "0", b.findSAM(t, sam, "lockoutTime").GetAttributeValue("lockoutTime"))

	unlocked, err := b.conn.Unlock(context.Background(), res.DN)
	require.NoError(t, err)
	require.True(t, unlocked)
	require.Equal(t, "0", b.findSAM(t, sam, "lockoutTime").GetAttributeValue("lockoutTime"))
	require.NoError(t, bind(t, dc, upn, password))
}

func TestGroupsAndMembers(t *testing.T) {
	t.Parallel()
	b := setup(t, harness.Samba(t))
	var users []string
	for i := range 5 {
		users = append(users, b.addUser(t, fmt.Sprintf("Member %d", i), b.ou, fmt.Sprintf("%sm%d", b.prefix, i)).DN)
	}
	addGroup := func(cn, groupType string, members ...string) syncsvc.ExportResult {
		return b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectGroup,
			DN: syncsvc.ChildDN("CN", cn, b.ou), Attributes: []syncsvc.AttributeChange{
				{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{b.prefix + cn}},
				{Op: syncsvc.AttributeReplace, Name: "groupType", Values: []string{groupType}},
				{Op: syncsvc.AttributeAddValues, Name: "member", Values: members},
			}})
	}
	sec := addGroup("sec", ad.GroupTypeGlobalSecurity, users[:3]...) // two batches of 2
	dist := addGroup("dist", ad.GroupTypeGlobalDistribution)
	members := func(dn string) []string {
		e := b.find(t, "(distinguishedName="+ldap.EscapeFilter(dn)+")", "member", "groupType")
		require.NotNil(t, e)
		return e.GetAttributeValues("member")
	}
	require.ElementsMatch(t, users[:3], members(sec.DN))
	require.Equal(t, ad.GroupTypeGlobalSecurity, b.findSAM(t, b.prefix+"sec", "groupType").GetAttributeValue("groupType"))
	require.Equal(t, ad.GroupTypeGlobalDistribution, b.findSAM(t, b.prefix+"dist", "groupType").GetAttributeValue("groupType"))
	require.Empty(t, members(dist.DN))
	// memberOf follows, as AD computes it.
	require.Equal(t, []string{sec.DN}, b.find(t, "(distinguishedName="+ldap.EscapeFilter(users[0])+")", "memberOf").GetAttributeValues("memberOf"))

	// Adding members already there and removing absent ones does not fail
	// the batch, and the rest of the batch is applied.
	b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: sec.DN, Attributes: []syncsvc.AttributeChange{
		{Op: syncsvc.AttributeAddValues, Name: "member", Values: []string{users[0], users[3], users[1], users[4]}},
		{Op: syncsvc.AttributeDeleteValues, Name: "member", Values: []string{users[2], users[2], "CN=Nobody," + b.ou, users[3]}},
	}})
	require.ElementsMatch(t, []string{users[0], users[1], users[4]}, members(sec.DN))

	// A member that does not exist is a real error, with AD's text.
	res := b.conn.Export(context.Background(), []syncsvc.ExportChange{{Op: syncsvc.ExportModify, DN: dist.DN,
		Attributes: []syncsvc.AttributeChange{{Op: syncsvc.AttributeAddValues, Name: "member", Values: []string{users[0], "CN=Nobody," + b.ou}}}}})
	var adErr *ad.Error
	require.ErrorAs(t, res[0].Err, &adErr)
	require.NotEmpty(t, adErr.Diagnostic)
	require.Contains(t, adErr.Error(), "CN=Nobody")
	require.Equal(t, []string{users[0]}, members(dist.DN), "the valid member of the failed batch is in")

	// Groups rename and delete like users.
	b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportRename, DN: dist.DN, NewDN: syncsvc.ChildDN("CN", "All, staff", b.ou)})
	require.Equal(t, syncsvc.ChildDN("CN", "All, staff", b.ou), b.findSAM(t, b.prefix+"dist").DN)
	b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportDelete, DN: syncsvc.ChildDN("CN", "All, staff", b.ou)})
	require.Nil(t, b.findSAM(t, b.prefix+"dist"))
}

// The engine keeps several exports of different objects in flight on one
// connector (its window): each object's own operations (a member add in
// batches of two, then a delete) still go in order, one object's refusal
// is its own, and the connection is shared without a race.
func TestExportsOfDifferentObjectsAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, harness.Samba(t))
	require.Equal(t, 8, b.conn.ExportWindow())
	var users []string
	for i := range 5 {
		users = append(users, b.addUser(t, fmt.Sprintf("Window %d", i), b.ou, fmt.Sprintf("%sw%d", b.prefix, i)).DN)
	}
	var groups []string
	for i := range 6 {
		groups = append(groups, b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectGroup,
			DN: syncsvc.ChildDN("CN", fmt.Sprintf("Team %d", i), b.ou), Attributes: []syncsvc.AttributeChange{
				{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{fmt.Sprintf("%sg%d", b.prefix, i)}},
			}}).DN)
	}
	const refused = 3
	results := make([]syncsvc.ExportResult, len(groups))
	var wg sync.WaitGroup
	for i, dn := range groups {
		attrs := []syncsvc.AttributeChange{
			{Op: syncsvc.AttributeReplace, Name: "description", Values: []string{fmt.Sprintf("group %d", i)}},
			{Op: syncsvc.AttributeAddValues, Name: "member", Values: users},
			{Op: syncsvc.AttributeDeleteValues, Name: "member", Values: []string{users[i%len(users)]}},
		}
		if i == refused {
			attrs[1].Values = []string{users[0], "CN=Nobody," + b.ou}
		}
		wg.Go(func() {
			results[i] = b.conn.Export(context.Background(), []syncsvc.ExportChange{{Op: syncsvc.ExportModify, DN: dn, Attributes: attrs}})[0]
		})
	}
	wg.Wait()
	for i, dn := range groups {
		e := b.find(t, "(distinguishedName="+ldap.EscapeFilter(dn)+")", "member", "description")
		require.Equal(t, fmt.Sprintf("group %d", i), e.GetAttributeValue("description"))
		if i == refused {
			require.ErrorContains(t, results[i].Err, "CN=Nobody", "the refusal is this group's")
			require.Equal(t, []string{users[0]}, e.GetAttributeValues("member"), "its valid member went in, and nothing after")
			continue
		}
		require.NoError(t, results[i].Err, dn)
		want := slices.Delete(slices.Clone(users), i%len(users), i%len(users)+1)
		require.ElementsMatch(t, want, e.GetAttributeValues("member"), "added in batches, then the one deleted: %s", dn)
	}
}
