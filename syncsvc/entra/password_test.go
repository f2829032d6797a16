package entra_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
)

// TestPasswordOperations: what the password pages ask of Entra ID, against
// the simulator: a reset through passwordProfile reaches the tenant, a
// temporary one must be changed, the cloud policy's refusal reads in plain
// words and is explained beforehand, a change is left to a system that
// can check the current password.
func TestPasswordOperations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, graphsim.Config{})
	const upn = "ines@contoso.com"
	dn := b.mustExport(t, addUser(upn, attr("displayName", "Inês Duarte")))[0].DN

	require.NoError(t, b.conn.ResetPassword(ctx, dn, "Harbour lantern 58 orchid", portal.ResetOptions{Unlock: true}))
	require.True(t, b.sim.PasswordIs(upn, "Harbour lantern 58 orchid"), "the reset reached the tenant")
	s, err := b.conn.AccountState(ctx, dn)
	require.NoError(t, err)
	require.Equal(t, portal.AccountState{DN: dn, Enabled: true}, s)

	require.NoError(t, b.conn.ResetPassword(ctx, dn, "Temporary-Gravel-93", portal.ResetOptions{MustChange: true}))
	s, err = b.conn.AccountState(ctx, dn)
	require.NoError(t, err)
	require.True(t, s.MustChange, "forceChangePasswordNextSignIn")

	// Letters with accents are AD's "other letters", but Entra ID's cloud
	// policy refuses them: in plain words, and named by the rules before.
	const accented = "Grüße aus Köln 58 Harbour"
	err = b.conn.ResetPassword(ctx, dn, accented, portal.ResetOptions{})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%v", err)
	require.Contains(t, portal.ErrorMessage(err), "does not meet Entra ID's password rules")
	require.True(t, b.sim.PasswordIs(upn, "Temporary-Gravel-93"), "a refused password changes nothing")
	rules, err := b.conn.PasswordRules(ctx, dn)
	require.NoError(t, err)
	rules.System = "Entra"
	c := portal.DefaultPasswordPolicy().Check(accented+" tide", nil, []portal.DirectoryRules{rules})
	require.Len(t, c.Problems, 1)
	require.Equal(t, "Entra takes only letters without accents (a–z, A–Z), digits and symbols (such as ! or a space).", c.Problems[0].String())
	var explained []string
	for _, e := range rules.Explain() {
		explained = append(explained, e.String())
	}
	require.Contains(t, explained, "Entra asks for at least 8 characters (Entra ID's cloud password policy).")

	require.ErrorIs(t, b.conn.ChangePassword(ctx, dn, "Temporary-Gravel-93", "Meadow copper 42 tuba"), syncsvc.ErrCannotCheckPassword)
	require.True(t, b.sim.PasswordIs(upn, "Temporary-Gravel-93"), "a change is not made without a check of the current password")

	_, err = b.conn.AccountState(ctx, entra.UserDN("nobody@contoso.com"))
	require.ErrorIs(t, err, syncsvc.ErrNoSuchObject)
}
