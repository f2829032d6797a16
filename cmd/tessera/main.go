// Command tessera is the identity management portal: `serve` runs it,
// `dev` runs it with a private PostgreSQL and demo data, `migrate` and
// `seed` prepare a database.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/tessera-idm/tessera/migrations"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/portal/postgres/localpg"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/web"
	"github.com/tessera-idm/tessera/workflow"
)

const usage = `tessera: identity management portal with workflows

Usage:
  tessera serve   [--listen ADDR]          serve the portal (needs DATABASE_URL)
  tessera dev     [--listen ADDR]          private PostgreSQL in ./var, migrate, seed demo data, serve
  tessera migrate                          apply database migrations (needs DATABASE_URL)
  tessera seed    [--people N]             load a demo organisation into an empty database
  tessera audit verify [--checkpoint LINE] check the audit log's keyed hash chain (needs DATABASE_URL)
  tessera sync run SYSTEM PROFILE          run full_import, delta_import, full_sync, delta_sync or export
  tessera sync preview PERSON              what a full sync would do to one person
  tessera sync status                      connected systems, pending exports, latest runs
  tessera hr import FILE [--preview]       read an HR file: preview its joiners, movers, leavers, then apply it
  tessera hr confirm UPLOAD                apply an HR file that stopped at the leaver threshold
  tessera admin grant ACCOUNT [--role R]   make ACCOUNT an administrator (or helpdesk: --role helpdesk)

Configuration comes from environment variables; see README.md.
`

func main() {
	keepSysmonAwake()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := Main(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tessera:", portal.ErrorMessageOr(err))
		os.Exit(1)
	}
}

// Main runs one subcommand; it returns when the command is done or ctx ends.
func Main(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(out, usage)
		return nil
	}
	cfg, err := LoadConfig(getenv)
	if err != nil {
		return err
	}
	portal.SetArgonConcurrency(cfg.ArgonConcurrency)
	if args[0] == "sync" {
		slog.SetDefault(cfg.logger())
		return syncCmd(ctx, cfg, args[1:], out)
	}
	if args[0] == "hr" {
		slog.SetDefault(cfg.logger())
		return hrCmd(ctx, cfg, args[1:], out)
	}
	if args[0] == "admin" {
		slog.SetDefault(cfg.logger())
		return adminCmd(ctx, cfg, args[1:], out)
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(out)
	listen := fs.String("listen", cfg.Listen, "address to serve HTTP on")
	people := fs.Int("people", cfg.DemoPeople, "people in the demo organisation")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg.Listen = *listen
	logger := cfg.logger()
	slog.SetDefault(logger)

	switch args[0] {
	case "serve":
		if sysmonErr != nil {
			logger.Warn("serve runs without GODEBUG "+sysmonAwake+": Go's system monitor may cost up to a fifth of its CPU between requests (README, GODEBUG)", "error", sysmonErr)
		}
		pool, err := openMigrated(ctx, cfg.DatabaseURL, cfg.AuditKey, false)
		if err != nil {
			return err
		}
		defer pool.Close()
		return serve(ctx, cfg, pool, logger, out, nil)
	case "migrate":
		pool, err := open(ctx, cfg.DatabaseURL, cfg.AuditKey)
		if err != nil {
			return err
		}
		defer pool.Close()
		applied, err := migrations.Up(ctx, pool)
		for _, name := range applied {
			fmt.Fprintln(out, "applied", name)
		}
		if err == nil && len(applied) == 0 {
			fmt.Fprintln(out, "database is up to date")
		}
		return err
	case "seed":
		pool, err := openMigrated(ctx, cfg.DatabaseURL, cfg.AuditKey, true)
		if err != nil {
			return err
		}
		defer pool.Close()
		return seed(ctx, pool, *people, out)
	case "dev":
		return dev(ctx, cfg, *people, logger, out)
	case "audit":
		return auditCmd(ctx, cfg, fs.Args(), out)
	}
	return fmt.Errorf("unknown command %q\n\n%s", args[0], usage)
}

// open connects to url; key (nil without TESSERA_SECRET_KEY) keys the
// audit chain on every connection.
func open(ctx context.Context, url string, key *portal.AuditKey) (*pgxpool.Pool, error) {
	if url == "" {
		return nil, errors.New("DATABASE_URL is not set; set it to a PostgreSQL URL, or use `tessera dev` to start a private database")
	}
	pool, err := postgres.Open(ctx, url, key)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("cannot reach the database: %w", err)
	}
	return pool, nil
}

// openMigrated opens the database and applies migrations when migrate is
// true; otherwise it refuses a database whose migrations are not current.
func openMigrated(ctx context.Context, url string, key *portal.AuditKey, migrate bool) (*pgxpool.Pool, error) {
	pool, err := open(ctx, url, key)
	if err != nil {
		return nil, err
	}
	if migrate {
		_, err = migrations.Up(ctx, pool)
	} else if pending, perr := migrations.Pending(ctx, pool); perr != nil {
		err = perr
	} else if len(pending) > 0 {
		err = fmt.Errorf("the database needs migrations (%d pending); run `tessera migrate` first", len(pending))
	}
	if err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func seed(ctx context.Context, pool *pgxpool.Pool, n int, out io.Writer) error {
	start := time.Now()
	org, err := demo.Generate(n)
	if err != nil {
		return err
	}
	if err := postgres.New(pool).LoadOrg(ctx, org); err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded %d people and %d groups in %s\n", len(org.People), len(org.Groups), time.Since(start).Round(time.Millisecond))
	printAccounts(out, org)
	return nil
}

func printAccounts(out io.Writer, org *demo.Org) {
	fmt.Fprintln(out, "demo sign-ins (password for each: "+demo.DemoPassword+"):")
	for _, a := range org.Accounts {
		fmt.Fprintf(out, "  %-14s %s\n", a.Label, a.AccountName)
	}
}

// dev runs Tessera for a newcomer: a private PostgreSQL in the data folder
// (unless DATABASE_URL is set), migrations, demo data on first start.
func dev(ctx context.Context, cfg Config, people int, logger *slog.Logger, out io.Writer) error {
	if cfg.DatabaseURL == "" {
		dir := filepath.Join(cfg.DataDir, "postgres")
		fmt.Fprintf(out, "starting PostgreSQL in %s on 127.0.0.1:%d ...\n", dir, cfg.DevPGPort)
		cluster, err := localpg.Start(ctx, localpg.Options{Dir: dir, Port: cfg.DevPGPort})
		if err != nil {
			return err
		}
		defer cluster.Stop()
		if cluster.Relocated {
			fmt.Fprintf(out, "PostgreSQL keeps its data in %s: the postgres user cannot enter %s (%s links there)\n",
				cluster.DataDir, dir, filepath.Join(dir, "data"))
		}
		if err := ensureDatabase(ctx, cluster, "tessera"); err != nil {
			return err
		}
		cfg.DatabaseURL = cluster.URL("tessera")
	}
	if cfg.StaffSecondFactor == "" {
		// The demo's administrators sign in with the demo password alone;
		// the sign-in page says so.
		cfg.StaffSecondFactor = "off"
	}
	if !cfg.SMTP.Enabled() {
		// Without a mail server, the demo's mail (reset codes above all)
		// goes to a mailbox on this machine that a newcomer can read.
		box, err := startDevMailbox(cfg.DevMailListen, func(m devMail) {
			fmt.Fprintf(out, "demo mail: to %s: %q (read it at the mailbox)\n", m.To, m.Subject)
		})
		if err != nil {
			return err
		}
		defer box.Close()
		cfg.SMTP = box.SMTPConfig()
		fmt.Fprintf(out, "demo mail: no TESSERA_SMTP_HOST, so Tessera's mail (reset codes, notices, approvals) goes to the mailbox at %s\n", box.URL)
	}
	if cfg.Sealer == nil {
		// The demo can save connected systems and keys its audit chain: a
		// key of its own, kept beside its database (set
		// TESSERA_SECRET_KEY to use another).
		key, err := devSecretKey(filepath.Join(cfg.DataDir, "secret-key"))
		if err != nil {
			return err
		}
		if err := cfg.useSecretKey(key); err != nil {
			return err
		}
	}
	pool, err := openMigrated(ctx, cfg.DatabaseURL, cfg.AuditKey, true)
	if err != nil {
		return err
	}
	defer pool.Close()
	var empty bool
	if err := pool.QueryRow(ctx, "SELECT NOT EXISTS (SELECT 1 FROM people)").Scan(&empty); err != nil {
		return fmt.Errorf("check demo data: %w", err)
	}
	if empty {
		if err := seed(ctx, pool, people, out); err != nil {
			return err
		}
		if err := demoHR(ctx, cfg, pool, out); err != nil {
			return fmt.Errorf("demo HR source: %w", err)
		}
	} else {
		org, err := demo.Generate(people)
		if err == nil {
			printAccounts(out, org)
		}
	}
	return serve(ctx, cfg, pool, logger, out, func(db *postgres.DB) error {
		if cfg.DemoAD {
			go demoAD(ctx, cfg, pool, logger, out)
		}
		if !empty {
			return nil
		}
		org, err := demo.Generate(people)
		if err != nil {
			return err
		}
		return db.SubmitDemoRequests(ctx, org)
	})
}

// devSecretKey reads the dev stack's secret key from path, making one on
// first use.
func devSecretKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		rand.Read(raw)
		key = []byte(base64.StdEncoding.EncodeToString(raw))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("write dev secret key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read dev secret key: %w", err)
	}
	return portal.ParseSecretKey(string(key))
}

func ensureDatabase(ctx context.Context, c *localpg.Cluster, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("connect to private PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("check database: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("create database: %w", err)
		}
	}
	return nil
}

// riverConns is the size of the pool a worker's River client keeps its
// own work on (fetching jobs, recording their ends, electing a leader).
const riverConns = 2

// newRiver builds the River client: with workers for the worker and all
// roles, insert-only for a web-only process. A client with workers keeps
// its own work on a small pool of its own (closed by the returned func):
// on the process's pool it waited behind the jobs it runs (a sync run
// holds a connection for its run lock all along), and at load gave up
// recording jobs as finished after its 10-second timeouts ("Too many
// errors; giving up"), leaving them running.
func newRiver(ctx context.Context, cfg Config, pool *pgxpool.Pool, db *postgres.DB, sync portal.SyncService, hr interface {
	portal.HRInbound
	portal.TeamNotices
}, accounts portal.ExpiringAccounts, logger *slog.Logger) (*river.Client[pgx.Tx], func(), error) {
	rc := workflow.InsertOnlyConfig(cfg.riverLogger())
	own, closeOwn := pool, func() {}
	if cfg.Role != "web" {
		pc := pool.Config().Copy()
		pc.MaxConns, pc.MinConns = riverConns, 0
		pc.ConnConfig.RuntimeParams["application_name"] = "tessera river"
		var err error
		if own, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
			return nil, nil, fmt.Errorf("river: pool: %w", err)
		}
		closeOwn = own.Close
		var mailer workflow.Mailer
		if cfg.SMTP.Enabled() {
			m, err := workflow.NewSMTPMailer(cfg.SMTP)
			if err != nil {
				closeOwn()
				return nil, nil, err
			}
			mailer = m
		}
		workers := river.NewWorkers()
		workflow.AddWorkers(workers, workflow.Deps{Processor: db, Housekeeper: db, Mailer: mailer, Sync: sync, HR: hr, Teams: hr,
			BaseURL: cfg.WebConfig().BaseURL, Pool: pool, Audit: db, AuditKey: cfg.AuditKey, Logger: logger,
			Notices: db, Expiry: accounts, Reminders: db, Governance: db, Reviews: db})
		rc = workflow.RiverConfig(workers, cfg.riverLogger())
		// The client ID names the process, so that a job's attempted_by
		// says which process ran it (or died running it).
		host, _ := os.Hostname()
		rc.ID = fmt.Sprintf("%s_pid%d_%s", host, os.Getpid(), time.Now().UTC().Format("20060102T150405.000000"))
	}
	client, err := river.NewClient(riverpgxv5.New(own), rc)
	if err != nil {
		closeOwn()
		return nil, nil, fmt.Errorf("river: %w", err)
	}
	return client, closeOwn, nil
}

// serve runs the HTTP server (roles web and all) and River's workers
// (roles worker and all) until ctx ends, then shuts down gracefully.
// ready, when set, runs once both are up (the dev demo uses it).
func serve(ctx context.Context, cfg Config, pool *pgxpool.Pool, logger *slog.Logger, out io.Writer, ready func(*postgres.DB) error) error {
	db := postgres.New(pool)
	db.Email = cfg.SMTP.Enabled()
	if err := db.CheckAuditKey(ctx, cfg.AuditKey); err != nil {
		return err
	}
	if cfg.AuditKey == nil {
		logger.Warn("the audit log is not keyed: anyone with the database could rewrite it; set " + portal.SecretKeyEnv)
	}
	systems := postgres.NewConnectedSystems(db, cfg.Sealer)
	engine := newEngine(pool, systems, logger)
	hrs := &hr.Service{Pool: pool, Engine: engine, Logger: logger}
	accounts := &syncsvc.Accounts{Engine: engine}
	defer accounts.Close()
	jobs, closeRiver, err := newRiver(ctx, cfg, pool, db, engine, hrs, accounts, logger)
	if err != nil {
		return err
	}
	defer closeRiver()
	db.Jobs = jobs
	engine.Queue = workflow.SyncRunQueue(jobs)
	hrs.Queue, hrs.Schedule, hrs.Notify = workflow.HRApplyQueue(jobs), workflow.HRDateQueue(jobs), workflow.HRNoticeQueue(jobs)
	if cfg.Role != "web" {
		stopJobs, err := workflow.Start(ctx, pool, jobs)
		if err != nil {
			return err
		}
		defer func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			stopJobs(stopCtx) //nolint:errcheck
		}()
		// Workers link the audit entries every process writes into the
		// chain, a moment after they commit.
		chainCtx, stopChain := context.WithCancel(ctx)
		chained := make(chan struct{})
		go func() { defer close(chained); db.RunAuditChain(chainCtx, logger) }()
		defer func() { stopChain(); <-chained }()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		postgres.NewPoolCollector(pool), syncsvc.NewCollector(engine), ad.NewRequestCollector())
	if cfg.MetricsListen != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsListen, reg, logger)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	if cfg.Role == "worker" {
		fmt.Fprintln(out, "Tessera worker is running")
		if ready != nil {
			if err := ready(db); err != nil {
				return err
			}
		}
		<-ctx.Done()
		return nil
	}
	var directory portal.DirectoryAuthenticator
	if cfg.LDAP.Enabled() {
		d, err := cfg.LDAP.Directory()
		if err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
		directory = d
	}
	var codes portal.CodeMailer
	if cfg.SMTP.Enabled() {
		m, err := workflow.NewSMTPMailer(cfg.SMTP)
		if err != nil {
			return err
		}
		codes = workflow.CodeMailer{Mailer: m}
	}
	srv := &web.Server{
		Config: cfg.WebConfig(), Logger: logger, Registry: reg, MetricsElsewhere: cfg.MetricsListen != "",
		People: db, Groups: db, Auth: db, Flows: db, Requests: db, Admin: db, Reviews: db,
		Methods: postgres.NewMethodStore(db, cfg.Sealer), Codes: codes,
		Directory: directory, Systems: systems, Tester: syncsvc.TestersByType{portal.SystemAD: &ad.Tester{Secrets: systems}, portal.SystemEntra: &entra.Tester{Secrets: systems}},
		Sync: engine, HR: hrs, Passwords: db, Accounts: accounts,
		Ready: func(ctx context.Context) error {
			if err := pool.Ping(ctx); err != nil {
				return fmt.Errorf("database unreachable: %w", err)
			}
			pending, err := migrations.Pending(ctx, pool)
			if err != nil {
				return err
			}
			if len(pending) > 0 {
				return fmt.Errorf("%d migrations pending", len(pending))
			}
			return nil
		},
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (set TESSERA_LISTEN or --listen): %w", cfg.Listen, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	url := cfg.WebConfig().BaseURL
	if cfg.BaseURL == "" {
		url = "http://" + ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if ready != nil {
		if err := ready(db); err != nil {
			hs.Close()
			return err
		}
	}
	fmt.Fprintf(out, "Tessera is serving at %s (role %s)\n", url, cfg.Role)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = hs.Shutdown(shutdownCtx)
	// The reset codes queued by the last requests are mailed before the
	// process ends (they are kept nowhere else).
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelDrain()
	if derr := srv.DrainResetMail(drainCtx); derr != nil {
		logger.Error("reset codes lost at shutdown; their people must start again", "error", derr)
	}
	return err
}

// serveMetrics serves /metrics alone on addr, until stop is called.
func serveMetrics(addr string, reg *prometheus.Registry, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s (TESSERA_METRICS_LISTEN): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "addr", addr, "err", err)
		}
	}()
	return func() { hs.Close() }, nil
}
