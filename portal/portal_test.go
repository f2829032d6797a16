package portal_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

func TestNormalizeQuery(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		code     string
	}{
		{"  Zoë   D'Angelo ", "Zoë D'Angelo", ""},
		{"a\tb\nc", "a b c", ""},
		{"", "", ""},
		{"nul\x00byte", "nul byte", ""},
		{"😀", "😀", ""},
		{strings.Repeat("é", portal.MaxQueryLen), strings.Repeat("é", portal.MaxQueryLen), ""},
		{strings.Repeat("é", portal.MaxQueryLen+1), "", portal.EINVALID},
		{"\xff", "", portal.EINVALID},
	} {
		got, err := portal.NormalizeQuery(tc.in)
		require.Equal(t, tc.code, portal.ErrorCode(err), "%q", tc.in)
		if tc.code == "" {
			require.Equal(t, tc.want, got)
		}
	}
}

func TestInitials(t *testing.T) {
	for _, tc := range []struct{ given, surname, display, want string }{
		{"Zoë", "D'Angelo", "", "ZD"},
		{"明", "王", "", "明王"},
		{"", "", "Ελένη", "Ε"},
		{"łukasz", "øster", "", "ŁØ"},
		{"", "", "", ""},
	} {
		p := portal.Person{GivenName: tc.given, Surname: tc.surname, DisplayName: tc.display}
		require.Equal(t, tc.want, p.Initials())
	}
}

func TestRedact(t *testing.T) {
	p := portal.Person{DisplayName: "A", AccountName: "a", EmployeeID: "E1", Enabled: true}
	user := portal.Viewer{PersonID: "x"}
	helpdesk := portal.Viewer{PersonID: "y", Roles: []portal.Role{portal.RoleHelpdesk}}
	admin := portal.Viewer{PersonID: "z", Roles: []portal.Role{portal.RoleAdmin}}
	r := p.Redact(user)
	require.Empty(t, r.AccountName)
	require.Empty(t, r.EmployeeID)
	require.False(t, r.Privileged)
	for _, v := range []portal.Viewer{helpdesk, admin} {
		r = p.Redact(v)
		require.Equal(t, "a", r.AccountName)
		require.True(t, r.Privileged)
	}
}

func TestPasswords(t *testing.T) {
	h := portal.HashPassword("correct horse")
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$"))
	require.NotEqual(t, h, portal.HashPassword("correct horse"), "salted")
	require.True(t, portal.VerifyPassword(h, "correct horse"))
	require.False(t, portal.VerifyPassword(h, "correct horse "))
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "$argon2i$v=19$m=1,t=1,p=1$AAAA$AAAA"} {
		require.False(t, portal.VerifyPassword(bad, "x"), bad)
	}
}

func TestErrors(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", portal.Errorf(portal.ENOTFOUND, "no %s", "group"))
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	require.Equal(t, "no group", portal.ErrorMessage(err))
	internal := errors.New("pq: password authentication failed for tessera")
	require.Equal(t, portal.EINTERNAL, portal.ErrorCode(internal))
	require.NotContains(t, portal.ErrorMessage(internal), "password", "internal details stay hidden")
	require.Equal(t, "", portal.ErrorCode(nil))
}

func TestJoinPolicyLabel(t *testing.T) {
	for _, j := range []portal.JoinPolicy{portal.JoinOpen, portal.JoinOwnerApproval, portal.JoinClosed} {
		require.NotEqual(t, string(j), j.Label())
	}
}
