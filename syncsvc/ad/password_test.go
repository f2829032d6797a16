package ad_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// applyPSO gives the account at userDN a password settings object of its
// own (what `samba-tool domain passwordsettings pso create` writes):
// lockout after 3 bad passwords, history 24, no minimum age, so that a
// lockout and history are tested on the shared DC without changing the
// domain's policy for the other tests.
func (b *testBundle) applyPSO(t *testing.T, userDN string) string {
	t.Helper()
	name := b.prefix + "-pso"
	dn := "CN=" + name + ",CN=Password Settings Container,CN=System," + b.dc.BaseDN
	add := ldap.NewAddRequest(dn, nil)
	add.Attribute("objectClass", []string{"msDS-PasswordSettings"})
	add.Attribute("msDS-PasswordSettingsPrecedence", []string{"10"})
	add.Attribute("msDS-PasswordReversibleEncryptionEnabled", []string{"FALSE"})
	add.Attribute("msDS-PasswordHistoryLength", []string{"24"})
	add.Attribute("msDS-PasswordComplexityEnabled", []string{"TRUE"})
	add.Attribute("msDS-MinimumPasswordLength", []string{"12"})
	add.Attribute("msDS-MinimumPasswordAge", []string{"0"})
	add.Attribute("msDS-MaximumPasswordAge", []string{"-36288000000000"}) // 42 days
	add.Attribute("msDS-LockoutThreshold", []string{"3"})
	add.Attribute("msDS-LockoutObservationWindow", []string{"-18000000000"}) // 30 minutes
	add.Attribute("msDS-LockoutDuration", []string{"-18000000000"})
	add.Attribute("msDS-PSOAppliesTo", []string{userDN})
	require.NoError(t, b.admin.Add(add))
	t.Cleanup(func() { b.admin.Del(ldap.NewDelRequest(dn, nil)) })
	return name
}

func TestPasswordOperations(t *testing.T) {
	t.Parallel()
	dc := harness.Samba(t)
	b := setup(t, dc)
	ctx := context.Background()
	const first, second, third = "Quiet-Harbour-Lamp-17", "Velvet-Orchard-Tide-58", "Copper-Meadow-Bell-93"
	sam, dn := b.addSignInUser(t, "pw", first)
	upn := sam + "@" + dc.Realm
	pso := b.applyPSO(t, dn)

	rules, err := b.conn.PasswordRules(ctx, dn)
	require.NoError(t, err)
	require.Equal(t, portal.DirectoryRules{MinLength: 12, Complexity: true, HistoryLength: 24, PSO: pso,
		MaxAge: rules.MaxAge}, rules, "the resultant PSO's rules")
	require.Equal(t, 42*24, int(rules.MaxAge.Hours()))

	// A reset: the new password binds, the old one no longer does.
	require.NoError(t, b.conn.ResetPassword(ctx, dn, second, portal.ResetOptions{}))
	require.NoError(t, bind(t, dc, upn, second))
	require.Error(t, bind(t, dc, upn, first), "the old password after a reset")

	// A user change applies history: back to the first password is refused
	// in plain words, a new one is taken.
	err = b.conn.ChangePassword(ctx, dn, second, first)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%v", err)
	require.Contains(t, portal.ErrorMessage(err), "recent passwords the domain remembers")
	err = b.conn.ChangePassword(ctx, dn, "Not-The-Current-One-1", third)
	require.Contains(t, portal.ErrorMessage(err), "current password is not right")
	require.NoError(t, b.conn.ChangePassword(ctx, dn, second, third))
	require.NoError(t, bind(t, dc, upn, third))

	// AD's own refusal of a reset reaches the person in plain words.
	err = b.conn.ResetPassword(ctx, dn, "all small letters here", portal.ResetOptions{})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "complexity rule")
	err = b.conn.ResetPassword(ctx, dn, "Sh0rt!", portal.ResetOptions{})
	require.Contains(t, portal.ErrorMessage(err), "at least 12 characters")

	// Unlocking an account that is not locked writes nothing: its USN
	// stays, so delta imports and replication see no change.
	usn := func() string {
		t.Helper()
		res, err := b.admin.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{"uSNChanged", "lockoutTime"}, nil))
		require.NoError(t, err)
		require.Len(t, res.Entries, 1)
		return res.Entries[0].GetAttributeValue("uSNChanged")
	}
	quiet := usn()
	unlocked, err := b.conn.Unlock(ctx, dn)
	require.NoError(t, err)
	require.False(t, unlocked)
	require.Equal(t, quiet, usn(), "an unlock of an account that is not locked writes nothing")

	// Three bad passwords lock the account (the PSO's threshold).
	for range 3 {
		require.Error(t, bind(t, dc, upn, "Wrong-Password-0"))
	}
	s, err := b.conn.AccountState(ctx, dn)
	require.NoError(t, err)
	require.True(t, s.Locked, "locked after 3 bad passwords: %+v", s)
	require.Equal(t, 3, s.BadPasswordCount)
	require.True(t, s.Enabled)
	require.Error(t, bind(t, dc, upn, third), "a locked account does not bind")
	unlocked, err = b.conn.Unlock(ctx, dn)
	require.NoError(t, err)
	require.True(t, unlocked)
	s, err = b.conn.AccountState(ctx, dn)
	require.NoError(t, err)
	require.False(t, s.Locked)
	require.NoError(t, bind(t, dc, upn, third), "unlocked, with the same password")
	quiet = usn()
	unlocked, err = b.conn.Unlock(ctx, dn)
	require.NoError(t, err)
	require.False(t, unlocked)
	require.Equal(t, quiet, usn(), "lockoutTime 0 is not written again")

	// A reset that unlocks, in the same operation.
	for range 3 {
		require.Error(t, bind(t, dc, upn, "Wrong-Password-0"))
	}
	require.NoError(t, b.conn.ResetPassword(ctx, dn, first+"x", portal.ResetOptions{Unlock: true}))
	require.NoError(t, bind(t, dc, upn, first+"x"), "reset and unlocked")

	// An unlocking reset of an account that is not locked writes
	// lockoutTime 0 in the same modify: it is taken, and the bad
	// passwords counted so far are forgotten with the old password.
	require.Error(t, bind(t, dc, upn, "Wrong-Password-0"))
	s, err = b.conn.AccountState(ctx, dn)
	require.NoError(t, err)
	require.False(t, s.Locked)
	require.Equal(t, 1, s.BadPasswordCount)
	require.NoError(t, b.conn.ResetPassword(ctx, dn, third+"y", portal.ResetOptions{Unlock: true}))
	s, err = b.conn.AccountState(ctx, dn)
	require.NoError(t, err)
	require.False(t, s.Locked)
	require.Equal(t, 0, s.BadPasswordCount, "the whole threshold again after a reset")
	require.NoError(t, bind(t, dc, upn, third+"y"))

	// A temporary password that must be changed: the bind says so (773).
	require.NoError(t, b.conn.ResetPassword(ctx, dn, second+"x", portal.ResetOptions{MustChange: true}))
	s, err = b.conn.AccountState(ctx, dn)
	require.NoError(t, err)
	require.True(t, s.MustChange)
	require.True(t, s.PasswordLastSet.IsZero())
	err = bind(t, dc, upn, second+"x")
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "data 773"), "%v", err)
	require.NoError(t, b.conn.RequireChange(ctx, dn, false))
	require.NoError(t, bind(t, dc, upn, second+"x"))
	s, err = b.conn.AccountState(ctx, dn)
	require.NoError(t, err)
	require.False(t, s.MustChange)
	require.False(t, s.PasswordExpires.IsZero(), "expiry from the PSO's maximum age")
	// The expiry reminders find it when it expires within the window,
	// not before.
	soon, err := b.conn.ExpiringAccounts(ctx, time.Now().Add(43*24*time.Hour))
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(soon, func(e syncsvc.ExpiringAccount) bool { return strings.EqualFold(e.DN, dn) }),
		"expiring within 43 days: %v", soon)
	later, err := b.conn.ExpiringAccounts(ctx, time.Now().Add(41*24*time.Hour))
	require.NoError(t, err)
	require.False(t, slices.ContainsFunc(later, func(e syncsvc.ExpiringAccount) bool { return strings.EqualFold(e.DN, dn) }))

	require.NoError(t, b.conn.SetEnabled(ctx, dn, false))
	s, err = b.conn.AccountState(ctx, dn)
	require.NoError(t, err)
	require.False(t, s.Enabled)
	require.Error(t, bind(t, dc, upn, second+"x"), "disabled")
}
