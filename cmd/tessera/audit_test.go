package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/postgres"
)

func TestMain(m *testing.M) { harness.Main(m) }

func TestAuditVerifyCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := harness.DatabaseURL(t)
	pool := harness.Pool(t, url)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Main(ctx, args, env("DATABASE_URL", url), &out)
		return out.String(), err
	}

	out, err := run("audit", "verify")
	require.NoError(t, err)
	require.Equal(t, "audit log intact: 0 entries\n", out)

	for _, action := range []string{"sign_in", "sign_out", "sign_in"} {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return postgres.Audit(ctx, tx, "", action, "person", "p1", nil)
		}))
	}
	out, err = run("audit", "verify")
	require.NoError(t, err)
	require.Contains(t, out, "audit log intact: 3 entries\nnewest entry 3, hash ")

	// Someone with the rights to switch the trigger off deletes an entry.
	_, err = pool.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
		DELETE FROM audit_log WHERE id = 2;
		ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only`)
	require.NoError(t, err)
	out, err = run("audit", "verify")
	require.EqualError(t, err, "the audit log failed verification")
	require.Equal(t, "audit log broken: entry 2 is missing before 3 (2 entries checked)\n", out)

	for _, args := range [][]string{{"audit"}, {"audit", "repair"}, {"audit", "verify", "now"}} {
		_, err = run(args...)
		require.ErrorContains(t, err, "tessera audit verify", args)
	}
	var help bytes.Buffer
	require.NoError(t, Main(ctx, []string{"help"}, env(), &help))
	require.Contains(t, help.String(), "tessera audit verify")
}

func TestAuditVerifyNeedsDatabase(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := Main(context.Background(), []string{"audit", "verify"}, env(), &out)
	require.ErrorContains(t, err, "DATABASE_URL is not set")
}
