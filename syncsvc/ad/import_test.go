package ad_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

func TestGUIDString(t *testing.T) {
	t.Parallel()
	// The first three fields are little-endian on the wire.
	raw := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	s, err := ad.GUIDString(raw)
	require.NoError(t, err)
	require.Equal(t, "00112233-4455-6677-8899-aabbccddeeff", s)
	back, err := ad.GUIDBytes(s)
	require.NoError(t, err)
	require.Equal(t, raw, back)
	_, err = ad.GUIDString(raw[:15])
	require.Error(t, err)
}

// collect runs an import into a map by anchor.
func collect(t *testing.T, run func(func(syncsvc.ImportedObject) error) error) map[string]syncsvc.ImportedObject {
	t.Helper()
	got := map[string]syncsvc.ImportedObject{}
	require.NoError(t, run(func(o syncsvc.ImportedObject) error {
		got[o.Anchor] = o
		return nil
	}))
	return got
}

func TestFullImport(t *testing.T) {
	t.Parallel()
	b := setup(t, harness.Samba(t))
	ctx := context.Background()
	people := b.mkOU(t, "People", b.ou)
	outside := b.mkOU(t, "Outside", b.ou)
	var users []syncsvc.ExportResult
	for i := range 5 { // three pages of two
		users = append(users, b.addUser(t, fmt.Sprintf("Person, %d", i), people, fmt.Sprintf("%sf%d", b.prefix, i),
			syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "employeeID", Values: []string{fmt.Sprint("E", i)}}))
	}
	b.addUser(t, "Not in scope", outside, b.prefix+"out")
	group := b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectGroup, DN: "CN=Staff," + people,
		Attributes: []syncsvc.AttributeChange{
			{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{b.prefix + "staff"}},
			{Op: syncsvc.AttributeAddValues, Name: "member", Values: []string{users[0].DN, users[1].DN}},
		}})

	conn := open(t, b.dc, ad.LDAPS, people)
	got := collect(t, func(fn func(syncsvc.ImportedObject) error) error { return conn.FullImport(ctx, fn) })
	require.Len(t, got, 6, "five users and a group, nothing outside the OU")
	for i, u := range users {
		o := got[u.Anchor]
		require.Equal(t, syncsvc.ObjectUser, o.Class)
		require.Equal(t, u.DN, o.DN)
		require.False(t, o.Deleted)
		require.Equal(t, []string{fmt.Sprint("E", i)}, o.Attributes["employeeID"])
		require.Equal(t, []string{fmt.Sprintf("%sf%d", b.prefix, i)}, o.Attributes["sAMAccountName"])
	}
	g := got[group.Anchor]
	require.Equal(t, syncsvc.ObjectGroup, g.Class)
	require.ElementsMatch(t, []string{users[0].DN, users[1].DN}, g.Attributes["member"])

	// The anchor is the GUID as AD writes it: a base search on it finds the object.
	for anchor, o := range got {
		res, err := b.admin.Search(ldap.NewSearchRequest(ad.GUIDDN(anchor), ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"distinguishedName"}, nil))
		require.NoError(t, err)
		require.Len(t, res.Entries, 1)
		require.Equal(t, o.DN, res.Entries[0].GetAttributeValue("distinguishedName"))
	}

	// An error from the callback stops the import.
	stop := fmt.Errorf("enough")
	n := 0
	err := conn.FullImport(ctx, func(syncsvc.ImportedObject) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)
}

// DirSync reports changes that another LDAP client made directly in AD.
// A domain of its own keeps other tests' changes out of the deltas.
func TestDeltaImport(t *testing.T) {
	t.Parallel()
	dc := harness.FreshSamba(t)
	b := setup(t, dc)
	ctx := context.Background()
	alice := b.addUser(t, "Alice", b.ou, b.prefix+"a")
	bob := b.addUser(t, "Bob", b.ou, b.prefix+"b")
	carol := b.addUser(t, "Carol", b.ou, b.prefix+"c")
	group := b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, Class: syncsvc.ObjectGroup, DN: "CN=Team," + b.ou,
		Attributes: []syncsvc.AttributeChange{
			{Op: syncsvc.AttributeReplace, Name: "sAMAccountName", Values: []string{b.prefix + "team"}},
			{Op: syncsvc.AttributeAddValues, Name: "member", Values: []string{alice.DN, bob.DN}},
		}})

	delta := func(watermark []byte) (map[string]syncsvc.ImportedObject, []byte) {
		t.Helper()
		var next []byte
		got := collect(t, func(fn func(syncsvc.ImportedObject) error) error {
			var err error
			next, err = b.conn.DeltaImport(ctx, watermark, fn)
			return err
		})
		require.NotEmpty(t, next)
		return got, next
	}
	// The first delta import reports every object in scope.
	got, watermark := delta(nil)
	require.Len(t, got, 4)
	require.Equal(t, alice.DN, got[alice.Anchor].DN)
	require.Equal(t, syncsvc.ObjectUser, got[alice.Anchor].Class)
	require.ElementsMatch(t, []string{alice.DN, bob.DN}, got[group.Anchor].MembersAdded)

	// Nothing changed, nothing reported.
	got, watermark = delta(watermark)
	require.Empty(t, got)

	// Another client changes AD directly.
	mod := ldap.NewModifyRequest(alice.DN, nil)
	mod.Replace("title", []string{"Engineer"})
	require.NoError(t, b.admin.Modify(mod))
	mod = ldap.NewModifyRequest(group.DN, nil)
	mod.Add("member", []string{carol.DN})
	mod.Delete("member", []string{alice.DN})
	require.NoError(t, b.admin.Modify(mod))
	require.NoError(t, b.admin.Del(ldap.NewDelRequest(bob.DN, nil)))
	require.NoError(t, b.admin.ModifyDN(ldap.NewModifyDNRequest(carol.DN, "CN=Carol Jones", true, "")))

	got, watermark = delta(watermark)
	require.Equal(t, []string{"Engineer"}, got[alice.Anchor].Attributes["title"])
	require.False(t, got[alice.Anchor].Deleted)
	require.True(t, got[bob.Anchor].Deleted, "deletion reported: %+v", got[bob.Anchor])
	require.Equal(t, "CN=Carol Jones,"+b.ou, got[carol.Anchor].DN)
	require.Equal(t, []string{"CN=Carol Jones," + b.ou}, got[group.Anchor].MembersAdded)
	require.Equal(t, []string{alice.DN}, got[group.Anchor].MembersRemoved)

	// A move out of the OUs in scope is a deletion to the connector space.
	other := b.mkOU(t, "Elsewhere", dc.BaseDN)
	require.NoError(t, b.admin.ModifyDN(ldap.NewModifyDNRequest(alice.DN, "CN=Alice", true, other)))
	got, _ = delta(watermark)
	require.True(t, got[alice.Anchor].Deleted)
}
