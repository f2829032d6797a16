package portal_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func TestSchemaLookup(t *testing.T) {
	t.Parallel()
	s := portal.NewSchema([]portal.Attribute{
		{Name: "costCenter", Label: "Cost centre", Type: portal.TypeString, Visibility: portal.VisibleToHelpdesk},
		// Named like a core attribute: the core one wins, and the extra
		// cannot claim a column.
		{Name: "department", Label: "Dept", Type: portal.TypeInt, Column: "password_hash"},
		{Name: "pronouns", Label: "Pronouns", Type: portal.TypeString, Column: "password_hash"},
	})
	d, ok := s.Lookup("department")
	require.True(t, ok)
	require.Equal(t, "Department", d.Label)
	require.Equal(t, "department", d.Column)
	p, ok := s.Lookup("pronouns")
	require.True(t, ok)
	require.False(t, p.Core(), "an extra attribute never has a column")
	require.Equal(t, []string{"costCenter", "pronouns"}, names(s.Extra()))
	_, ok = s.Lookup("salary")
	require.False(t, ok)
	require.Equal(t, "salary", s.Label("salary"))
	require.Equal(t, "Given name", portal.CoreSchema().Label("givenName"))

	// Every core attribute has a column, and only the editable ones are
	// offered to requests, in the table's order.
	for _, a := range portal.CoreSchema().All() {
		require.True(t, a.Core(), a.Name)
		require.NotEmpty(t, a.Label, a.Name)
	}
	require.Equal(t, []string{"givenName", "surname", "displayName", "title", "department", "office", "phone", "mobile"},
		names(portal.CoreSchema().Editable()))
}

func TestAttributeValues(t *testing.T) {
	t.Parallel()
	s := portal.NewSchema([]portal.Attribute{{Name: "pronouns", Type: portal.TypeString}})
	p := &portal.Person{}
	for _, a := range s.All() {
		if a.Type == portal.TypeString || a.Type == portal.TypeReference {
			a.SetText(p, "v-"+a.Name)
		}
	}
	enabled, _ := s.Lookup("enabled")
	enabled.SetText(p, "true")
	require.Equal(t, portal.Person{AccountName: "v-accountName", EmployeeID: "v-employeeId", GivenName: "v-givenName",
		Surname: "v-surname", DisplayName: "v-displayName", Email: "v-email", Title: "v-title", Department: "v-department",
		Office: "v-office", Phone: "v-phone", Mobile: "v-mobile", ManagerID: "v-managerId", Enabled: true,
		Extra: map[string]string{"pronouns": "v-pronouns"}}, *p, "each attribute reaches its own field")
	for _, a := range s.All() {
		if a.Name != "enabled" {
			require.Equal(t, "v-"+a.Name, a.Text(p))
		}
	}
	require.Equal(t, "true", enabled.Text(p))
	require.True(t, enabled.Bool(p))
	title, _ := s.Lookup("title")
	require.Same(t, &p.Title, title.Field(p))
	pronouns, _ := s.Lookup("pronouns")
	require.Nil(t, pronouns.Field(p))
}

func TestAttributeVisibleTo(t *testing.T) {
	t.Parallel()
	user := portal.Viewer{PersonID: "u"}
	helpdesk := portal.Viewer{PersonID: "h", Roles: []portal.Role{portal.RoleHelpdesk}}
	admin := portal.Viewer{PersonID: "a", Roles: []portal.Role{portal.RoleAdmin}}
	anonymous := portal.Viewer{}
	for _, tc := range []struct {
		vis                                        portal.Visibility
		user, self, helpdesk, admin, anonymousSelf bool
	}{
		{"", true, true, true, true, true},
		{portal.VisibleToEveryone, true, true, true, true, true},
		{portal.VisibleToSelf, false, true, true, true, false},
		{portal.VisibleToHelpdesk, false, false, true, true, false},
		{portal.VisibleToAdmins, false, false, false, true, false},
	} {
		a := portal.Attribute{Name: "x", Visibility: tc.vis}
		require.Equal(t, tc.user, a.VisibleTo(user, "someone else"), "%q user", tc.vis)
		require.Equal(t, tc.self, a.VisibleTo(user, "u"), "%q self", tc.vis)
		require.Equal(t, tc.helpdesk, a.VisibleTo(helpdesk, "u"), "%q helpdesk", tc.vis)
		require.Equal(t, tc.admin, a.VisibleTo(admin, "u"), "%q admin", tc.vis)
		require.Equal(t, tc.anonymousSelf, a.VisibleTo(anonymous, ""), "%q nobody is not the person", tc.vis)
		require.Equal(t, !tc.user, a.Privileged(), "%q", tc.vis)
	}
}

// Person.Redact clears exactly the core attributes the table hides from
// the viewer.
func TestRedactFollowsTable(t *testing.T) {
	t.Parallel()
	full := portal.Person{ID: "p"}
	for _, a := range portal.CoreSchema().All() {
		a.SetText(&full, map[bool]string{true: "true", false: "v"}[a.Type == portal.TypeBool])
	}
	r := full.Redact(portal.Viewer{PersonID: "someone"})
	for _, a := range portal.CoreSchema().All() {
		if a.Privileged() {
			require.Equal(t, map[bool]string{true: "false", false: ""}[a.Type == portal.TypeBool], a.Text(&r), a.Name)
		} else {
			require.Equal(t, a.Text(&full), a.Text(&r), a.Name)
		}
	}
}

func names(attrs []portal.Attribute) []string {
	var out []string
	for _, a := range attrs {
		out = append(out, a.Name)
	}
	return out
}

// TestReservedAttributeNames: an extra attribute named endDate was
// accepted, and a person created by hand then had its value read as their
// last day (the create_person request's changes hold both under one key).
func TestReservedAttributeNames(t *testing.T) {
	for _, name := range []string{portal.EndDateKey, "enddate"} {
		a := portal.Attribute{Name: name, Label: "End", Type: portal.TypeDate}
		err := a.ValidateDefinition(portal.NewSchema(nil), true)
		require.Error(t, err, name)
		require.Equal(t, portal.EINVALID, portal.ErrorCode(err), name)
		require.Contains(t, portal.ErrorMessage(err), "keeps for a person's last day", name)
	}
	a := portal.Attribute{Name: "endDay", Label: "End", Type: portal.TypeDate}
	require.NoError(t, a.ValidateDefinition(portal.NewSchema(nil), true))
}
