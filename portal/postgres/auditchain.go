package postgres

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Writers append audit entries unchained, and the sequencer links them into
// the hash chain in id order (migrations/0022_audit_sequencer.sql says why
// and how). An id is safe to link once no transaction that might still
// commit an entry at or below it runs: every writer holds the advisory lock
// 7261126002 shared from before it takes its id until it ends, so the
// sequencer reads the id sequence first and then the transactions holding
// that lock, and links up to the id it read once all of those have ended.

// auditWriters lists the transactions of this database that hold the
// writers' lock 7261126002 (classid 1, objid 2966158706 as pg_locks splits
// a bigint key), other than this session's; none when no id was taken
// past the chain's tip. Every id at or below the tip has ended (the tip
// passed it only once its writers had), so when the sequence is there too
// nothing waits, and the lock table, which an idle worker's sequencer read
// five times a second, is not read (the condition is Postgres's one-time
// filter, ahead of the scan).
const auditWriters = `SELECT coalesce(array_agg(virtualtransaction), '{}') FROM pg_locks
	WHERE locktype = 'advisory' AND classid = 1 AND objid = 2966158706 AND objsubid = 1 AND granted
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND pid <> pg_backend_pid()
	AND (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM audit_log_id_seq) > coalesce((SELECT id FROM audit_tip), 0)`

// auditHorizon is an id and the writers that may still commit entries at
// or below it: once all of them have ended, every entry up to the id that
// will ever commit has committed. tip is the chain's tip when it was read:
// entries up to it are linked already.
type auditHorizon struct {
	upto    int64
	tip     int64
	writers []string
}

// settled reports whether none of h's writers is among those running now.
func (h auditHorizon) settled(running []string) bool {
	return !slices.ContainsFunc(h.writers, func(w string) bool { return slices.Contains(running, w) })
}

// readAuditHorizon reads the id sequence and then the writers, in that
// order (a batch runs its statements one after the other).
func (db *DB) readAuditHorizon(ctx context.Context) (auditHorizon, error) {
	var h auditHorizon
	b := &pgx.Batch{}
	b.Queue(`SELECT CASE WHEN is_called THEN last_value ELSE 0 END, coalesce((SELECT id FROM audit_tip), 0)
		FROM audit_log_id_seq`).QueryRow(func(row pgx.Row) error {
		return row.Scan(&h.upto, &h.tip)
	})
	b.Queue(auditWriters).QueryRow(func(row pgx.Row) error { return row.Scan(&h.writers) })
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return auditHorizon{}, fmt.Errorf("postgres: audit horizon: %w", err)
	}
	return h, nil
}

// chainAuditUpTo links the entries waiting up to id upto; without wait,
// only when no other sequencer is at work. reason says why it stopped
// before them all (an entry changed while it waited, another key), or is
// empty.
func (db *DB) chainAuditUpTo(ctx context.Context, upto int64, wait bool) (linked int, reason string, err error) {
	var r *string
	if err := db.Pool.QueryRow(ctx, "SELECT linked, reason FROM audit_chain($1, $2)", upto, wait).Scan(&linked, &r); err != nil {
		return 0, "", fmt.Errorf("postgres: chain audit: %w", err)
	}
	if r != nil {
		reason = *r
	}
	return linked, reason, nil
}

// ChainAudit links every audit entry committed before it was called into
// the chain, waiting a little for the writers running then. Verification
// and the checkpoint call it before they read the chain; workers run
// RunAuditChain, so that entries wait only a moment.
func (db *DB) ChainAudit(ctx context.Context) error {
	h, err := db.readAuditHorizon(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(cmp.Or(db.AuditChainWait, 10*time.Second))
	for wait := time.Millisecond; len(h.writers) > 0; wait = min(2*wait, 50*time.Millisecond) {
		now, err := db.readAuditHorizon(ctx)
		if err != nil {
			return err
		}
		if h.settled(now.writers) {
			break
		}
		if time.Now().After(deadline) {
			return nil // the writers still run: their entries wait
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	_, _, err = db.chainAuditUpTo(ctx, h.upto, true)
	return err
}

// AuditChainInterval is how often RunAuditChain links the entries that
// were committed meanwhile.
const AuditChainInterval = 200 * time.Millisecond

// RunAuditChain links audit entries into the chain as they are committed,
// every AuditChainInterval, until ctx ends. Several processes may run it:
// the links are made one sequencer at a time. When an entry cannot be
// linked (changed while it waited, or written with another key) it says so
// in the log once, and the entries after it wait; verification names it.
//
// While another process's rounds move the tip, this one's leave the
// linking to them: with two workers, each linked every other round's
// entries, and a call of the sequencer costs some 3.6 ms of PostgreSQL's
// time besides the 0.1 ms an entry (in the 2+2 pipeline benchmark, 369
// calls where one process made 187, 0.034 ms a request more). A process
// that sees the tip where it last left it links again: the others have
// stopped, died, or found nothing to link.
func (db *DB) RunAuditChain(ctx context.Context, logger *slog.Logger) {
	var horizons []auditHorizon
	var stopped string
	left := int64(-1) // the tip as this process last saw it or moved it
	tick := time.NewTicker(AuditChainInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now, err := db.readAuditHorizon(ctx)
		if err != nil {
			if ctx.Err() == nil {
				logger.Error("audit chain", "err", err)
			}
			continue
		}
		othersLink := left >= 0 && now.tip > left
		left = now.tip
		// A writer running at an older horizon and still running now is in
		// every newer one too: the newest settled horizon is the furthest.
		horizons = append(horizons, now)
		var upto int64
		horizons = slices.DeleteFunc(horizons, func(h auditHorizon) bool {
			if h.settled(now.writers) {
				upto = max(upto, h.upto)
				return true
			}
			return false
		})
		if len(horizons) > 64 { // a long transaction: keep the newest
			horizons = slices.Delete(horizons, 0, len(horizons)-64)
		}
		// Nothing new since the tip: an idle worker's round used to lock
		// the tip all the same (a write transaction, five a second in
		// every worker).
		if upto <= now.tip {
			continue
		}
		if othersLink {
			continue // their next round links these
		}
		// Another process's sequencer at work links these too, or the
		// next round does.
		_, reason, err := db.chainAuditUpTo(ctx, upto, false)
		if err == nil && reason == "" {
			left = upto
		}
		switch {
		case err != nil:
			if ctx.Err() == nil {
				logger.Error("audit chain", "err", err)
			}
		case reason != stopped && reason != "":
			logger.Error("audit chain stopped: "+reason+"; `tessera audit verify` names what is wrong", "upto", upto)
		case reason != stopped:
			logger.Info("audit chain goes on")
		}
		if err == nil {
			stopped = reason
		}
	}
}
