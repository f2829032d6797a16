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
