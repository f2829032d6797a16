package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// `tessera hr import FILE` as a newcomer runs it: first with no HR source
// (it says where to add one), then a preview that applies nothing, the
// file applied with its refused rows by line, the same file again
// (nothing to do), and a file that lacks most people, which stops until
// `tessera hr confirm`.
func TestHRImportCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := harness.DatabaseURL(t)
	pool := harness.Pool(t, url)
	key := make([]byte, portal.SecretKeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Main(ctx, args, env("DATABASE_URL", url, portal.SecretKeyEnv, base64.StdEncoding.EncodeToString(key)), &out)
		return out.String(), err
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	var b strings.Builder
	b.WriteString("EmployeeID,FirstName,LastName,JobTitle,Department,ManagerID\n")
	b.WriteString("C1,Cleo,Chief,Director,Sales,\n")
	for i := 2; i <= 10; i++ {
		fmt.Fprintf(&b, "C%d,Cai,Seller%d,Seller,Sales,C1\n", i, i)
	}
	b.WriteString(",No,Body,Seller,Sales,C1\n")
	people := write("people.csv", b.String())

	_, err = run("hr", "import", people)
	require.ErrorContains(t, err, "no HR source")
	db := postgres.New(pool)
	engine := &syncsvc.Engine{Pool: pool, Systems: postgres.NewConnectedSystems(db, nil), Requests: db, Dynamic: db}
	svc := &hr.Service{Pool: pool, Engine: engine}
	_, err = svc.CreateSource(ctx, portal.TesseraViewer(), "Payroll", hr.Settings{Columns: hr.DefaultColumns()})
	require.NoError(t, err)

	out, err := run("hr", "import", people, "--preview")
	require.NoError(t, err)
	require.Contains(t, out, "11 rows: 10 joiners, 0 movers, 0 leavers, 1 refused. Status: previewed.")
	require.Contains(t, out, "line 12: it has no employee ID")
	count := func() (n int) {
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE employee_id LIKE 'C%'").Scan(&n))
		return n
	}
	require.Zero(t, count(), "a preview applies nothing")

	out, err = run("hr", "import", people)
	require.NoError(t, err, out)
	require.Contains(t, out, "10 joiners")
	require.Contains(t, out, ": applied.")
	require.Equal(t, 10, count())
	var manager string
	require.NoError(t, pool.QueryRow(ctx, `SELECT m.employee_id FROM people p JOIN people m ON m.id = p.manager_id
		WHERE p.employee_id = 'C7'`).Scan(&manager))
	require.Equal(t, "C1", manager)

	out, err = run("hr", "import", people, "--system", "payroll")
	require.NoError(t, err, out)
	require.Contains(t, out, "0 joiners, 0 movers, 0 leavers, 1 refused")

	few := write("few.csv", "EmployeeID,FirstName,LastName,JobTitle,Department,ManagerID\nC1,Cleo,Chief,Director,Sales,\n")
	out, err = run("hr", "import", few)
	require.NoError(t, err, out)
	require.Contains(t, out, "9 leavers")
	require.Contains(t, out, "Status: waiting.")
	var upload int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT max(id) FROM hr_uploads").Scan(&upload))
	require.Contains(t, out, fmt.Sprintf("tessera hr confirm %d", upload))
	var enabled int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE employee_id LIKE 'C%' AND account_enabled").Scan(&enabled))
	require.Equal(t, 10, enabled, "nothing applied before the confirmation")
	out, err = run("hr", "confirm", fmt.Sprint(upload))
	require.NoError(t, err, out)
	require.Contains(t, out, ": applied.")
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE employee_id LIKE 'C%' AND account_enabled").Scan(&enabled))
	require.Equal(t, 1, enabled, "the leavers are disabled")

	_, err = run("hr", "import", filepath.Join(dir, "missing.csv"))
	require.Error(t, err)
}
