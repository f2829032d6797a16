package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
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
	require.Contains(t, out, "audit log intact: 3 entries (none keyed: written without TESSERA_SECRET_KEY, with plain SHA-256)\nnewest entry 3, hash ")

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

// TestAuditVerifyCheckpointCommand keys the chain with TESSERA_SECRET_KEY,
// logs a checkpoint of the tip as the checkpoint job does, and then drops
// the newest entry and moves the tip back: verification alone cannot see
// it, `--checkpoint` (a line) and `--checkpoints` (a log file) do.
func TestAuditVerifyCheckpointCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := harness.DatabaseURL(t)
	secret := bytes.Repeat([]byte{3}, portal.SecretKeySize)
	environ := env("DATABASE_URL", url, portal.SecretKeyEnv, base64.StdEncoding.EncodeToString(secret))
	cfg, err := LoadConfig(environ)
	require.NoError(t, err)
	pool, err := postgres.Open(ctx, url, cfg.AuditKey)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Main(ctx, args, environ, &out)
		return out.String(), err
	}
	for _, action := range []string{"sign_in", "sign_out", "sign_in"} {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return postgres.Audit(ctx, tx, "", action, "person", "p1", nil)
		}))
	}
	id, hash, err := postgres.New(pool).AuditTip(ctx)
	require.NoError(t, err)
	cp := cfg.AuditKey.SignCheckpoint(id, hash, time.Now())
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).LogAttrs(ctx, slog.LevelInfo, portal.AuditCheckpointMessage, cp.LogAttrs()...)
	slog.New(slog.NewJSONHandler(&js, nil)).LogAttrs(ctx, slog.LevelInfo, portal.AuditCheckpointMessage, cp.LogAttrs()...)
	logFile := filepath.Join(t.TempDir(), "tessera.log")
	require.NoError(t, os.WriteFile(logFile, []byte("time=… level=INFO msg=\"Tessera is serving\"\n"+js.String()), 0o600))

	out, err := run("audit", "verify", "--checkpoint", strings.TrimSpace(text.String()))
	require.NoError(t, err)
	require.Contains(t, out, "audit log intact: 3 entries; the checkpoint matches\n")
	out, err = run("audit", "verify", "--checkpoints", logFile, "--checkpoint", cp.String())
	require.NoError(t, err)
	require.Contains(t, out, "audit log intact: 3 entries; all 2 checkpoints match\n")

	// A checkpoint altered (or written with another key) is refused.
	forged := cfg.AuditKey.SignCheckpoint(id+1, hash, cp.At)
	forged.EntryID = id
	_, err = run("audit", "verify", "--checkpoint", forged.String())
	require.ErrorContains(t, err, "The checkpoint of entry 3 was not signed with this TESSERA_SECRET_KEY")
	unsigned := cp
	unsigned.Signature = nil
	_, err = run("audit", "verify", "--checkpoint", unsigned.String())
	require.ErrorContains(t, err, "The checkpoint of entry 3 is not signed")

	_, err = pool.Exec(ctx, `ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only;
		ALTER TABLE audit_tip DISABLE TRIGGER USER;
		DELETE FROM audit_log WHERE id = 3;
		UPDATE audit_tip SET id = 2, hash = (SELECT hash FROM audit_log WHERE id = 2);
		ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;
		ALTER TABLE audit_tip ENABLE TRIGGER USER`)
	require.NoError(t, err)
	out, err = run("audit", "verify")
	require.NoError(t, err, "without a checkpoint the shorter log looks whole")
	require.Contains(t, out, "audit log intact: 2 entries\n")
	for _, args := range [][]string{{"--checkpoint", strings.TrimSpace(text.String())}, {"--checkpoints", logFile}} {
		out, err = run(append([]string{"audit", "verify"}, args...)...)
		require.EqualError(t, err, "the audit log failed verification")
		require.Equal(t, "audit log broken: the log ends at entry 2, but the checkpoint of "+cp.At.Format(time.RFC3339)+
			" recorded entry 3: the newest entries were deleted (2 entries checked)\n", out)
	}

	// Without the key, the keyed log cannot be verified at all.
	var noKey bytes.Buffer
	err = Main(ctx, []string{"audit", "verify"}, env("DATABASE_URL", url), &noKey)
	require.ErrorContains(t, err, "verifying it needs TESSERA_SECRET_KEY")
}
