package hr_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/syncsvc"
)

// The password expiry reminders read every connected system that has
// passwords: beside AD, an HR source is passed over without a warning
// (every start of the demo logged "expiring passwords not read" for it).
func TestExpiringPasswordsPassOverHR(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var logs bytes.Buffer
	f.engine.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, err := (&syncsvc.Accounts{Engine: f.engine}).ExpiringPasswords(context.Background(), 24*time.Hour)
	require.NoError(t, err)
	require.NotContains(t, logs.String(), "expiring passwords not read")
}

// An HR source holds a person's record, not an account with a password:
// an unlock goes to AD alone (it reported HR as a system that "cannot set
// passwords"), and reading the rules for a new password does not open HR
// (every password page logged "password rules not read" for it).
func TestPasswordActionsPassOverHR(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.receive(t, []byte(f.file(",", row{"H1", "Hal", "One", "Seller", "Sales", "", "", ""})))
	f.applyQueued(t)
	f.account(t, f.prefix+"h1")
	var pid string
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT id FROM people WHERE employee_id = 'H1'").Scan(&pid))
	var logs bytes.Buffer
	f.engine.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	accounts := &syncsvc.Accounts{Engine: f.engine}
	results, err := accounts.Unlock(ctx, pid)
	require.NoError(t, err)
	require.Len(t, results, 1, "%v", results)
	require.Equal(t, f.ad.System.Name, results[0].System)
	require.NoError(t, results[0].Err)
	_, err = accounts.PasswordRules(ctx, pid)
	require.NoError(t, err)
	require.NotContains(t, logs.String(), "password rules not read")
}
