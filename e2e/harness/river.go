package harness

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/workflow"
)

// StartWorkers runs a River client with every Tessera worker on db's pool,
// sets it as db's job inserter, and stops it when tb ends. mailer may be
// nil; sync, when given, is the sync engine the sync jobs drive.
func StartWorkers(tb testing.TB, db *postgres.DB, mailer workflow.Mailer, baseURL string, sync ...portal.SyncService) *river.Client[pgx.Tx] {
	tb.Helper()
	deps := workflow.Deps{Processor: db, Housekeeper: db, Mailer: mailer, BaseURL: baseURL, Pool: db.Pool}
	if len(sync) > 0 {
		deps.Sync = sync[0]
	}
	return StartWorkersWith(tb, db, deps)
}

// StartWorkersWith is StartWorkers with the workers' dependencies given
// whole (the HR service, say); Processor, Housekeeper and Pool default to
// db's.
func StartWorkersWith(tb testing.TB, db *postgres.DB, deps workflow.Deps) *river.Client[pgx.Tx] {
	tb.Helper()
	if deps.Processor == nil {
		deps.Processor, deps.Housekeeper, deps.Pool = db, db, db.Pool
	}
	if deps.Governance == nil {
		deps.Governance = db
	}
	if deps.Reviews == nil {
		deps.Reviews = db
	}
	mailer := deps.Mailer
	workers := river.NewWorkers()
	workflow.AddWorkers(workers, deps)
	cfg := workflow.RiverConfig(workers, slog.New(slog.DiscardHandler))
	cfg.TestOnly = true
	client, err := river.NewClient(riverpgxv5.New(db.Pool), cfg)
	if err != nil {
		tb.Fatalf("harness: river: %v", err)
	}
	stop, err := workflow.Start(context.Background(), db.Pool, client)
	if err != nil {
		tb.Fatalf("harness: start river: %v", err)
	}
	db.Jobs = client
	db.Email = mailer != nil
	// The audit chain's sequencer runs beside the workers, as in tessera.
	chainCtx, stopChain := context.WithCancel(context.Background())
	chained := make(chan struct{})
	go func() { defer close(chained); db.RunAuditChain(chainCtx, slog.New(slog.DiscardHandler)) }()
	tb.Cleanup(func() {
		stopChain()
		<-chained
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stop(ctx) //nolint:errcheck
	})
	return client
}
