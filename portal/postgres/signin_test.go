package postgres_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// clock is a settable time for DB.Clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestSignInBudgets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := postgres.New(harness.Pool(t, harness.SeededDatabaseURL(t, 200)))
	c := &clock{now: time.Now()}
	db.Clock = c.Now
	attempt := portal.SignInAttempt{Method: "local", Account: "zoe", Address: netip.MustParseAddr("198.51.100.1")}
	budgets := func() int {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM signin_budgets").Scan(&n))
		return n
	}

	t.Run("only failures spend", func(t *testing.T) {
		for range 3 * portal.SignInBurst {
			ticket, err := db.BeginSignIn(ctx, attempt)
			require.NoError(t, err)
			require.NotEmpty(t, ticket.PersonID)
			require.Len(t, ticket.Budgets, 3, "address, name and person")
		}
		require.Zero(t, budgets())
	})

	t.Run("failures spend, time refills", func(t *testing.T) {
		for range portal.SignInBurst {
			ticket, err := db.BeginSignIn(ctx, attempt)
			require.NoError(t, err)
			require.NoError(t, db.FailSignIn(ctx, ticket))
		}
		_, err := db.BeginSignIn(ctx, attempt)
		require.ErrorIs(t, err, portal.ErrTooManySignIns)
		c.advance(portal.SignInRefill)
		ticket, err := db.BeginSignIn(ctx, attempt)
		require.NoError(t, err, "one try back after one refill")
		require.NoError(t, db.FailSignIn(ctx, ticket))
		_, err = db.BeginSignIn(ctx, attempt)
		require.ErrorIs(t, err, portal.ErrTooManySignIns)
	})

	t.Run("refilled budgets are swept", func(t *testing.T) {
		require.Equal(t, 3, budgets())
		c.advance(portal.SignInBurst * portal.SignInRefill / 2)
		n, err := db.RemoveExpired(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "half refilled is not refilled")
		require.Equal(t, 3, budgets())
		c.advance(portal.SignInBurst * portal.SignInRefill / 2)
		n, err = db.RemoveExpired(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 3, n)
		require.Zero(t, budgets())

		// Failures also sweep a few on their way, never their own.
		for _, addr := range []string{"198.51.100.2", "198.51.100.3"} {
			a := attempt
			a.Address, a.Account = netip.MustParseAddr(addr), "guess-"+addr
			ticket, err := db.BeginSignIn(ctx, a)
			require.NoError(t, err)
			require.NoError(t, db.FailSignIn(ctx, ticket))
		}
		require.Equal(t, 4, budgets())
		c.advance(2 * portal.SignInBurst * portal.SignInRefill)
		ticket, err := db.BeginSignIn(ctx, attempt)
		require.NoError(t, err)
		require.NoError(t, db.FailSignIn(ctx, ticket))
		require.Equal(t, 3, budgets(), "the four old ones went, zoe's three came")
	})

	t.Run("IPv6 clients are counted by /64", func(t *testing.T) {
		for i := range portal.SignInBurst {
			a := portal.SignInAttempt{Method: "local", Account: fmt.Sprintf("v6-guess-%d", i),
				Address: netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1))}
			ticket, err := db.BeginSignIn(ctx, a)
			require.NoError(t, err)
			require.NoError(t, db.FailSignIn(ctx, ticket))
		}
		_, err := db.BeginSignIn(ctx, portal.SignInAttempt{Method: "local", Account: "mateo",
			Address: netip.MustParseAddr("2001:db8:1:2:ffff::1")})
		require.ErrorIs(t, err, portal.ErrTooManySignIns)
		_, err = db.BeginSignIn(ctx, portal.SignInAttempt{Method: "local", Account: "mateo",
			Address: netip.MustParseAddr("2001:db8:1:3::1")})
		require.NoError(t, err)
	})
}
