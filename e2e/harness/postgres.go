// Package harness starts the real servers that Tessera's tests run against
// (PostgreSQL, and later Samba AD DC, SMTP and Chromium), once per test
// binary, and hands each test its own fresh state.
package harness

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/migrations"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/portal/postgres/localpg"
)

var pg struct {
	once    sync.Once
	err     error
	dir     string
	cluster *localpg.Cluster
	admin   *pgxpool.Pool
	n       atomic.Int64

	templates sync.Map // template name -> *templateOnce
}

type templateOnce struct {
	once sync.Once
	err  error
}

// Main runs the package's tests and then stops the servers the harness
// started. Call it from TestMain: `func TestMain(m *testing.M) { harness.Main(m) }`.
func Main(m *testing.M) {
	// Sign-in and reset tests make hundreds of argon2id hashes; at full
	// strength under the race detector they alone took minutes.
	portal.UseCheapHashesInTests()
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop shuts down the servers started by this test binary.
func Stop() {
	stopChromium()
	stopSMTP()
	stopSamba()
	if pg.admin != nil {
		pg.admin.Close()
	}
	if pg.cluster != nil {
		if err := pg.cluster.Destroy(); err != nil {
			fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		}
	} else if pg.dir != "" {
		os.RemoveAll(pg.dir)
	}
}

func startPostgres() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg.dir, pg.err = os.MkdirTemp("", "tessera-pg-")
	if pg.err != nil {
		return
	}
	pg.cluster, pg.err = localpg.Start(ctx, localpg.Options{Dir: pg.dir, Throwaway: true})
	if pg.err != nil {
		return
	}
	pg.admin, pg.err = pgxpool.New(ctx, pg.cluster.URL("postgres"))
	if pg.err != nil {
		return
	}
	pg.err = ensureTemplate(ctx, "tessera_template", func(ctx context.Context, pool *pgxpool.Pool) error {
		_, err := migrations.Up(ctx, pool)
		return err
	})
}

// ensureTemplate creates database name once per test binary from the
// migrated base template and runs fill on it.
func ensureTemplate(ctx context.Context, name string, fill func(context.Context, *pgxpool.Pool) error) error {
	v, _ := pg.templates.LoadOrStore(name, &templateOnce{})
	t := v.(*templateOnce)
	t.once.Do(func() {
		create := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
		if name != "tessera_template" {
			create += " TEMPLATE tessera_template"
		}
		if _, t.err = pg.admin.Exec(ctx, create); t.err != nil {
			return
		}
		var pool *pgxpool.Pool
		if pool, t.err = pgxpool.New(ctx, pg.cluster.URL(name)); t.err != nil {
			return
		}
		defer pool.Close()
		t.err = fill(ctx, pool)
	})
	return t.err
}

// DatabaseURL returns the URL of a new database for tb, migrated and empty,
// dropped when tb ends.
func DatabaseURL(tb testing.TB) string {
	tb.Helper()
	return cloneDatabase(tb, "tessera_template")
}

// Postgres returns a pool on a new migrated database for tb, closed and
// dropped when tb ends.
func Postgres(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	return Pool(tb, DatabaseURL(tb))
}

// Pool opens a pool on url that is closed when tb ends.
func Pool(tb testing.TB, url string) *pgxpool.Pool {
	tb.Helper()
	pool, err := postgres.Open(context.Background(), url, nil)
	if err != nil {
		tb.Fatalf("harness: open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// KeyedPool opens a pool on url whose sessions append to the audit chain
// under the audit key of secretKey (TESSERA_SECRET_KEY, base64), as the
// tessera processes given that key do: once one of them has written to the
// chain, a test writes to it through such a pool.
func KeyedPool(tb testing.TB, url, secretKey string) *pgxpool.Pool {
	tb.Helper()
	raw, err := base64.StdEncoding.DecodeString(secretKey)
	if err != nil {
		tb.Fatalf("harness: secret key: %v", err)
	}
	key, err := portal.NewAuditKey(raw)
	if err != nil {
		tb.Fatalf("harness: audit key: %v", err)
	}
	pool, err := postgres.Open(context.Background(), url, key)
	if err != nil {
		tb.Fatalf("harness: open pool: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// TemplateDatabaseURL returns the URL of a new database for tb copied from a
// template that fill populates once per test binary (e.g. seeded people).
func TemplateDatabaseURL(tb testing.TB, name string, fill func(context.Context, *pgxpool.Pool) error) string {
	tb.Helper()
	pg.once.Do(startPostgres)
	if pg.err != nil {
		tb.Fatalf("harness: postgres: %v", pg.err)
	}
	if err := ensureTemplate(context.Background(), name, fill); err != nil {
		tb.Fatalf("harness: template %s: %v", name, err)
	}
	return cloneDatabase(tb, name)
}

func cloneDatabase(tb testing.TB, template string) string {
	tb.Helper()
	pg.once.Do(startPostgres)
	if pg.err != nil {
		tb.Fatalf("harness: postgres: %v", pg.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), pg.n.Add(1))
	ctx := context.Background()
	sql := fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{template}.Sanitize())
	// A template may be briefly in use while another clone starts; retry.
	var err error
	for range 50 {
		if _, err = pg.admin.Exec(ctx, sql); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("harness: create database: %v", err)
	}
	tb.Cleanup(func() {
		pg.admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)") //nolint:errcheck
	})
	return pg.cluster.URL(name)
}
