package e2e_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
)

// TestExportSurvivesKill9 kills `tessera sync run ... export` with SIGKILL
// in the middle of exporting 1,000 new accounts, runs it again, and checks
// that every account reached AD exactly once.
func TestExportSurvivesKill9(t *testing.T) {
	const people = 400
	ctx := context.Background()
	dc := harness.Samba(t)
	url := harness.DatabaseURL(t)
	pool := harness.Pool(t, url)
	db := postgres.New(pool)
	s := harness.NewADSystem(t, db, dc, fmt.Sprintf("kill%d", time.Now().UnixNano()%1e6))
	e := &syncsvc.Engine{Pool: pool, Systems: s.Systems, Open: ad.Opener(s.Systems), Requests: postgres.New(pool)}
	_, err := pool.Exec(ctx, `INSERT INTO people (account_name, employee_id, given_name, surname, display_name)
		SELECT 'k' || n, 'K' || n, 'Kay', 'Number ' || n, 'Kay Number ' || n FROM generate_series(1, $1) n`, people)
	require.NoError(t, err)
	syncRules(t, e, s, dc.BaseDN)
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync} {
		_, err := e.Run(ctx, s.System.ID, p, syncsvc.RunOptions{})
		require.NoError(t, err)
	}
	bin := harness.Binary(t)
	export := func() *exec.Cmd {
		cmd := exec.Command(bin, "sync", "run", s.System.Name, "export")
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url, "TESSERA_SECRET_KEY="+s.SecretKey)
		return cmd
	}
	reader := dc.Dial(t)
	count := func(t require.TestingT) int {
		res, err := reader.SearchWithPaging(ldap.NewSearchRequest(s.OU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0,
			false, "(&(objectClass=user)(employeeID=K*))", []string{"employeeID"}, nil), 500)
		require.NoError(t, err)
		return len(res.Entries)
	}
	cmd := export()
	require.NoError(t, cmd.Start())
	require.EventuallyWithT(t, func(c *assert.CollectT) { assert.GreaterOrEqual(c, count(c), 40) }, 60*time.Second, 10*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	before := count(t)
	require.Less(t, before, people, "killed in the middle")
	out, err := export().CombinedOutput()
	require.NoError(t, err, "%s", out)
	// Every account once: by employeeID, no duplicates under other names.
	res, err := reader.SearchWithPaging(ldap.NewSearchRequest(s.OU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0,
		false, "(&(objectClass=user)(employeeID=K*))", []string{"employeeID"}, nil), 500)
	require.NoError(t, err)
	seen := map[string]int{}
	for _, en := range res.Entries {
		seen[en.GetAttributeValue("employeeID")]++
	}
	require.Len(t, seen, people, "every change reached AD")
	for id, n := range seen {
		require.Equal(t, 1, n, "%s exists %d times", id, n)
	}
	var pending int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM cs_objects WHERE export_op IS NOT NULL").Scan(&pending))
	require.Zero(t, pending, "nothing left to export")
	t.Logf("killed after %d of %d accounts; the second run finished the rest: %s", before, people, out)
}
