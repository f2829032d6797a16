package syncsvc

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/portal"
)

// RunProfile is one step of a sync cycle (MIM's run profile).
type RunProfile string

// The run profiles.
const (
	FullImport  RunProfile = "full_import"  // read every object (paged search)
	DeltaImport RunProfile = "delta_import" // read what changed (DirSync)
	FullSync    RunProfile = "full_sync"    // every metaverse object through the sync rules
	DeltaSync   RunProfile = "delta_sync"   // what the last imports changed
	Export      RunProfile = "export"       // send pending exports
)

// Profiles lists the run profiles in cycle order.
var Profiles = []RunProfile{FullImport, DeltaImport, FullSync, DeltaSync, Export}

// Label names a run profile as administrators read it.
func (p RunProfile) Label() string {
	switch p {
	case FullImport:
		return portal.Mark("Full import")
	case DeltaImport:
		return portal.Mark("Delta import")
	case FullSync:
		return portal.Mark("Full sync")
	case DeltaSync:
		return portal.Mark("Delta sync")
	case Export:
		return portal.Mark("Export")
	}
	return string(p)
}

// RunCounts are what a run did, by kind.
type RunCounts struct {
	Adds      int `json:"adds"`
	Updates   int `json:"updates"`
	Renames   int `json:"renames"`
	Moves     int `json:"moves"`
	Deletes   int `json:"deletes"`
	Joins     int `json:"joins"`
	Unchanged int `json:"unchanged"`
	Errors    int `json:"errors"`
}

// Run is one run of a run profile, as run history shows it.
type Run struct {
	ID         int64
	SystemID   string
	SystemName string
	Profile    RunProfile
	Status     string // queued, running, succeeded, completed_with_errors, failed, stopped
	Trigger    string // admin, schedule, request, cli
	StartedAt  time.Time
	FinishedAt *time.Time
	Processed  int
	Counts     RunCounts
	Message    string // in English, for the command line
	// Text is Message as format and arguments, for pages in the reader's
	// language; zero for a run recorded before it was kept (Why).
	Text portal.Text
}

// Why is the run's message as people read it.
func (r Run) Why() portal.Text {
	if r.Text.IsZero() {
		return portal.Textf("%s", r.Message)
	}
	return r.Text
}

// RunObject is one object behind a run's count.
type RunObject struct {
	Kind   string // add, update, rename, move, delete, join, error, ...
	DN     string
	Detail string // in English, for the command line
	// Text is Detail as format and arguments (Why).
	Text portal.Text
}

// Why is the object's detail as people read it.
func (o RunObject) Why() portal.Text {
	if o.Text.IsZero() {
		return portal.Textf("%s", o.Detail)
	}
	return o.Text
}

// RunOptions adjust a run.
type RunOptions struct {
	Trigger string // admin (default), schedule, request, cli
	// ConfirmDeletes lets an export run delete more objects than the
	// system's deletion threshold.
	ConfirmDeletes bool
	// queued is the run's row when QueueRun wrote it; 0: a new row.
	queued int64
	// lock is the run lock the run holds; an export run lends it to a
	// person's change waiting for the system (yield).
	lock *runLock
	// person limits an export run to the objects joined to this person,
	// and groups to the objects joined to these groups (Provision now).
	person string
	groups []string
}

// Opener connects to a connected system with its stored credentials.
type Opener func(ctx context.Context, sys portal.ConnectedSystem) (Connector, error)

// Systems reads connected systems.
type Systems interface {
	FindConnectedSystem(ctx context.Context, id string) (*portal.ConnectedSystem, error)
	ListConnectedSystems(ctx context.Context) ([]portal.ConnectedSystem, error)
}

// Engine runs the sync service over the portal's database.
type Engine struct {
	Pool    *pgxpool.Pool
	Systems Systems
	Open    Opener
	Logger  *slog.Logger
	// Dynamic keeps dynamic group memberships following the people that
	// inbound flows change and projections create, in the same
	// transaction; nil leaves them to the person's next change in the
	// portal or the groups' next full recompute.
	Dynamic DynamicGroups
	// Requests records what became of the requests the engine carries: it
	// alone writes their status and timeline (portal/postgres.DB does).
	// Required: every import, sync and export may release requests.
	Requests RequestLife
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Queue inserts, in tx, the River job that runs the queued run runID
	// (workflow.SyncRunQueue makes one); nil: runs cannot be queued.
	Queue func(ctx context.Context, tx pgx.Tx, runID int64, confirmDeletes bool) error
	// TargetSchemas are the fixed schemas of the system types that have
	// one, known without asking the system (Entra ID's Graph properties:
	// entra.TargetSchema), so that a sync rule is checked against it when
	// it is saved rather than failing at every export; another type is
	// checked against the schema its last full import read, if any.
	TargetSchemas map[portal.SystemType]TargetSchema

	waits personWaits
	locks runLocks
	idle  idleConns
}

// RequestLife changes requests' status and timeline inside the engine's
// own transaction; portal/postgres.DB implements it, and nothing in
// syncsvc writes the requests or request_events tables itself. It is
// declared here, as DynamicGroups is, rather than in portal: its methods
// take a pgx.Tx, which portal does not know.
type RequestLife interface {
	// ExportsFailedTx marks the committed requests among ids failed: a
	// system refused their change, detail says why (written in each
	// reader's language).
	ExportsFailedTx(ctx context.Context, tx pgx.Tx, ids []string, detail portal.Text) error
	// ExportsConfirmedTx releases the requests whose changes to systemID
	// were sent before sentBefore, when an import that started then has
	// completed: "exported" when their values are still the portal's.
	ExportsConfirmedTx(ctx context.Context, tx pgx.Tx, systemID, systemName string, sentBefore time.Time) error
	// ExportsDroppedTx releases the requests waiting on connector space
	// objects about to be deleted (why: portal.KindExported by the export,
	// portal.KindExportSkipped gone from the system), or with nothing
	// left to send (why empty).
	ExportsDroppedTx(ctx context.Context, tx pgx.Tx, systemName string, csIDs []int64, why portal.EventKind) error
	// PlannedTx records that the requests ids were planned for every
	// system: until then no confirmation completes them.
	PlannedTx(ctx context.Context, tx pgx.Tx, ids []string) error
	// SettleRequestsTx ends the committed requests among ids that wait for
	// no export.
	SettleRequestsTx(ctx context.Context, tx pgx.Tx, ids []string) error
}

// DynamicGroups re-evaluates every dynamic group for people inside a
// transaction (portal/postgres.DB does).
type DynamicGroups interface {
	// HoldDynamicRules takes, for the rest of tx, the lock that
	// RecomputePeopleTx takes, before anything in tx appends to the audit
	// log: every transaction takes the two in that order.
	HoldDynamicRules(ctx context.Context, tx pgx.Tx) error
	// RecomputePeopleTx re-evaluates every dynamic group for each of
	// personIDs, in one pass over them all; people deleted meanwhile
	// have no groups and are skipped.
	RecomputePeopleTx(ctx context.Context, tx pgx.Tx, personIDs []string) error
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

// ErrBusy is returned when another run of the same connected system is in
// progress, in this process or another.
var ErrBusy = portal.Errorf(portal.ECONFLICT, "Another run of this connected system is in progress; wait for it to finish.")

// lockKey is the first half of the advisory lock key that serialises runs
// of one connected system across every Tessera process.
const lockKey = portal.LockClassSyncRun

// personKey is the first half of the advisory lock key that says a
// person's change waits for a system (personWaits).
const personKey = portal.LockClassPersonWaits

// ErrLockLost ends the work under a run lock whose session broke (the
// database restarted, the connection dropped): the lock went with the
// session, and another run may take it.
var ErrLockLost = portal.Errorf(portal.ECONFLICT, "The connection that held this run's lock broke, so the run stopped rather than run alongside another; run it again.")

// lockCheckEvery is how often a session that holds run locks is checked:
// PostgreSQL ends a broken session's locks without telling the holders.
const lockCheckEvery = time.Second

// runLock is a run lock of a system that this engine holds.
type runLock struct {
	e      *Engine
	gen    int // the generation of the session that took it; 0: let go
	cancel context.CancelCauseFunc
}

// runLocks are the run locks this engine holds, all on one session of its
// own (ownSession), so that a run holds no pool connection for its lock.
// A session takes a lock it holds again without waiting, so the engine
// itself keeps two of its runs of one system apart (held).
type runLocks struct {
	mu      sync.Mutex
	session ownSession
	// held are the locks' holders by system ID. A holder whose session
	// broke stays here, its work canceled, until it lets go: until then
	// no other run of this engine takes the system's lock.
	held     map[string]*runLock
	watching bool // checkSession runs
}

// broken ends the session of r, which is in doubt or broke, and the work
// of every holder of a lock on it (ErrLockLost); called with r.mu held.
func (r *runLocks) broken(e *Engine, cause error) {
	gen := r.session.gen
	r.session.close()
	for id, l := range r.held {
		if l.gen == gen && l.cancel != nil {
			e.logger().Warn("sync run lock lost with its session; the run stops", "system", id, "error", cause)
			l.cancel(ErrLockLost)
			l.cancel = nil // told once: it is not told again until it lets go
		}
	}
}

// checkSession checks, while r's session holds run locks, that it still
// lives, and stops the holders when it does not.
func (e *Engine) checkSession() {
	r := &e.locks
	for {
		time.Sleep(lockCheckEvery)
		r.mu.Lock()
		live := false
		for _, l := range r.held {
			// A lost holder keeps the closed session's generation until it
			// lets go; the session it held is gone, with nothing to check.
			live = live || (l.gen == r.session.gen && r.session.conn != nil)
		}
		if !live {
			r.watching = false
			r.mu.Unlock()
			return
		}
		err := errors.New("the session was closed")
		if r.session.conn != nil && !r.session.conn.IsClosed() {
			sctx, cancel := lockStatement(context.Background())
			_, err = r.session.conn.Exec(sctx, "SELECT 1")
			cancel()
		}
		if err != nil {
			r.broken(e, err)
		}
		r.mu.Unlock()
	}
}

// lockStatement bounds the statements on an engine's own session: they
// never wait for long, and the caller's context does not end them,
// since canceling one would end the session and every lock it holds.
func lockStatement(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// lock takes the run lock of systemID, waiting up to wait for it. While
// it waits it holds no connection: a run that holds the lock needs the
// pool's connections more than those waiting for it.
//
// The work under the lock runs in the context it returns, which ends with
// ErrLockLost as its cause when the lock's session breaks.
func (e *Engine) lock(ctx context.Context, systemID string, wait time.Duration) (context.Context, *runLock, error) {
	deadline := time.Now().Add(wait)
	l := &runLock{e: e}
	for {
		ok, err := e.tryLock(ctx, systemID, l)
		if err != nil {
			return ctx, nil, err
		}
		if ok {
			lctx, cancel := context.WithCancelCause(ctx)
			e.locks.mu.Lock()
			l.cancel = cancel
			// close() keeps the generation: a closed session broke too.
			if l.gen != e.locks.session.gen || e.locks.session.conn == nil {
				cancel(ErrLockLost) // broken before it could be told
			}
			e.locks.mu.Unlock()
			return lctx, l, nil
		}
		if time.Now().After(deadline) {
			return ctx, nil, ErrBusy
		}
		select {
		case <-ctx.Done():
			return ctx, nil, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// tryLock takes the run lock of systemID for l, if it is free, and
// reports whether it did.
func (e *Engine) tryLock(ctx context.Context, systemID string, l *runLock) (bool, error) {
	r := &e.locks
	r.mu.Lock()
	defer r.mu.Unlock()
	r.session.mu, r.session.name = &r.mu, "tessera sync locks"
	if _, ok := r.held[systemID]; ok {
		return false, nil
	}
	conn, err := r.session.get(ctx, e)
	if err != nil {
		return false, err
	}
	sctx, cancel := lockStatement(ctx)
	defer cancel()
	var ok bool
	if err := conn.QueryRow(sctx, "SELECT pg_try_advisory_lock($1, hashtext($2))", lockKey, systemID).Scan(&ok); err != nil {
		// A session in doubt may hold the lock or not: end it.
		r.broken(e, err)
		return false, err
	}
	if !ok {
		if len(r.held) == 0 {
			r.session.idle()
		}
		return false, nil
	}
	if r.held == nil {
		r.held = map[string]*runLock{}
	}
	r.held[systemID], l.gen = l, r.session.gen
	if !r.watching {
		r.watching = true
		go e.checkSession()
	}
	return true, nil
}

// personWaits marks, for other runs in every process to see, the systems
// that a person's change waits for: a session of the engine's own holds a
// shared advisory lock (personKey) on each system while at least one
// change waits for it. Bulk exports, between chunks, try that lock
// exclusively and hand their run lock over when they cannot take it
// (yield).
type personWaits struct {
	mu      sync.Mutex
	session ownSession
	count   map[string]int
}

// personFirst readies a person's change to go to systems: it orders them
// so that systems whose users are anchored in another go after it (a new
// person's Entra account needs their AD objectGUID), marks the context as
// one a person waits for (connectors send it ahead of bulk work), and
// marks that the change waits for each system until release is called:
// bulk exports on them pause at their next chunk.
func (e *Engine) personFirst(ctx context.Context, systems []portal.ConnectedSystem) (context.Context, func(), error) {
	anchored := func(s portal.ConnectedSystem) int {
		if s.Entra.AnchorSystemID != "" {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(systems, func(a, b portal.ConnectedSystem) int { return cmp.Compare(anchored(a), anchored(b)) })
	ids := make([]string, len(systems))
	for i, s := range systems {
		ids[i] = s.ID
	}
	release, err := e.personsFirst(ctx, ids)
	if err != nil {
		return ctx, nil, fmt.Errorf("%w: %w", portal.ErrTemporary, err)
	}
	return PersonWaiting(ctx), release, nil
}

// personsFirst marks that a person's change waits for each of systemIDs,
// until release is called: bulk exports on them pause at their next chunk.
func (e *Engine) personsFirst(ctx context.Context, systemIDs []string) (release func(), err error) {
	w := &e.waits
	w.mu.Lock()
	defer w.mu.Unlock()
	w.session.mu, w.session.name = &w.mu, "tessera sync marks"
	var marked []string
	release = func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		e.unmark(marked)
	}
	for _, id := range systemIDs {
		if w.count[id] == 0 {
			conn, err := w.session.get(ctx, e)
			if err != nil {
				e.unmark(marked)
				return nil, err
			}
			sctx, cancel := lockStatement(ctx)
			_, err = conn.Exec(sctx, "SELECT pg_advisory_lock_shared($1, hashtext($2))", personKey, id)
			cancel()
			if err != nil {
				w.session.close()
				e.unmark(marked)
				return nil, fmt.Errorf("syncsvc: mark a person's change waiting: %w", err)
			}
		}
		if w.count == nil {
			w.count = map[string]int{}
		}
		w.count[id]++
		marked = append(marked, id)
	}
	return release, nil
}

// unmark takes back the marks of ids; called with e.waits.mu held.
func (e *Engine) unmark(ids []string) {
	w := &e.waits
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, id := range ids {
		if w.count[id]--; w.count[id] > 0 {
			continue
		}
		delete(w.count, id)
		if w.session.conn == nil {
			continue // the session ended, and its marks with it
		}
		if _, err := w.session.conn.Exec(ctx, "SELECT pg_advisory_unlock_shared($1, hashtext($2))", personKey, id); err != nil {
			// Closing the session ends its marks.
			w.session.close()
			e.logger().Warn("marks of people's changes dropped", "error", err)
		}
	}
	if len(w.count) == 0 {
		w.session.idle()
	}
}

// personWaiting reports whether a person's change, in any process, waits
// for systemID (personsFirst marked it).
func (e *Engine) personWaiting(ctx context.Context, systemID string) (bool, error) {
	const waitingSQL = `SELECT CASE WHEN pg_try_advisory_lock($1, hashtext($2))
		THEN NOT pg_advisory_unlock($1, hashtext($2)) ELSE true END`
	r := &e.locks
	r.mu.Lock()
	defer r.mu.Unlock()
	r.session.mu, r.session.name = &r.mu, "tessera sync locks"
	conn, err := r.session.get(ctx, e)
	if err != nil {
		return false, err
	}
	defer func() {
		if len(r.held) == 0 {
			r.session.idle()
		}
	}()
	sctx, cancel := lockStatement(ctx)
	defer cancel()
	var waiting bool
	if err := conn.QueryRow(sctx, waitingSQL, personKey, systemID).Scan(&waiting); err != nil {
		r.broken(e, err)
		return false, err
	}
	return waiting, nil
}

// yield hands the run lock of systemID to the people's changes waiting
// for it, if any, and takes it back once none waits: a bulk export calls
// it between chunks, so that a person's change goes ahead of it.
func (l *runLock) yield(ctx context.Context, systemID string) error {
	if l == nil {
		return nil
	}
	waiting, err := l.e.personWaiting(ctx, systemID)
	if err != nil || !waiting {
		return err
	}
	l.unlock(systemID)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if waiting, err = l.e.personWaiting(ctx, systemID); err != nil {
			return err
		}
		if waiting {
			continue
		}
		ok, err := l.e.tryLock(ctx, systemID, l)
		if err != nil || ok {
			return err
		}
	}
}

// release lets the run lock go, and ends the work under it.
func (l *runLock) release(systemID string) {
	l.unlock(systemID)
	// broken() clears cancel under the mutex, from the checking goroutine.
	r := &l.e.locks
	r.mu.Lock()
	cancel := l.cancel
	l.cancel = nil
	r.mu.Unlock()
	if cancel != nil {
		cancel(nil)
	}
}

// unlock lets the run lock go.
func (l *runLock) unlock(systemID string) {
	if l.gen == 0 {
		return // lost while yielding: the run ended there
	}
	r := &l.e.locks
	r.mu.Lock()
	defer r.mu.Unlock()
	gen := l.gen
	l.gen = 0
	if r.held[systemID] != l {
		return
	}
	delete(r.held, systemID)
	if r.session.conn != nil && r.session.gen == gen {
		// A fresh context: the lock must go even when the run's was canceled.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := r.session.conn.Exec(ctx, "SELECT pg_advisory_unlock($1, hashtext($2))", lockKey, systemID); err != nil {
			// The session may hold the lock still: end it, and its locks.
			r.broken(l.e, err)
		}
	}
	if len(r.held) == 0 {
		r.session.idle()
	}
}

// maxRunObjects bounds the objects kept per run.
const maxRunObjects = 10_000

// runRecord is a run in progress: its counts, its objects and its live
// progress, written to sync_runs at most every half second.
type runRecord struct {
	e       *Engine
	id      int64
	mu      sync.Mutex
	counts  RunCounts
	objects []RunObject
	done    int
	flushed time.Time
}

func (e *Engine) startRun(ctx context.Context, systemID string, profile RunProfile, opts RunOptions) (*runRecord, error) {
	trigger := opts.Trigger
	if trigger == "" {
		trigger = "admin"
	}
	r := &runRecord{e: e, flushed: time.Now()}
	if opts.queued != 0 {
		// A queued run starts now; one that a killed worker left running
		// starts again from nothing, as its job does.
		r.id = opts.queued
		_, err := e.Pool.Exec(ctx, `UPDATE sync_runs SET status = 'running', started_at = now(), processed = 0, counts = '{}',
			message = '', message_text = NULL WHERE id = $1`, r.id)
		return r, err
	}
	err := e.Pool.QueryRow(ctx, `INSERT INTO sync_runs (system_id, profile, trigger) VALUES ($1, $2, $3) RETURNING id`,
		systemID, string(profile), trigger).Scan(&r.id)
	return r, err
}

// count records one object behind a count.
func (r *runRecord) count(kind, dn string, detail portal.Text) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch kind {
	case "add":
		r.counts.Adds++
	case "update":
		r.counts.Updates++
	case "rename":
		r.counts.Renames++
	case "move":
		r.counts.Moves++
	case "delete":
		r.counts.Deletes++
	case "join":
		r.counts.Joins++
	case "unchanged":
		r.counts.Unchanged++
		return // not listed one by one
	case "error":
		r.counts.Errors++
	}
	if len(r.objects) < maxRunObjects {
		r.objects = append(r.objects, RunObject{Kind: kind, DN: dn, Detail: detail.String(), Text: detail})
	}
}

// keepErrors records the errors a sync counted into a scratch record (one
// whose counts belong to no run) as a delta sync run of the system, so
// that run history shows why an object was not exported, and returns it;
// a scratch record without errors leaves nothing behind (nil).
func (e *Engine) keepErrors(ctx context.Context, systemID, trigger string, scratch *runRecord) (*Run, error) {
	scratch.mu.Lock()
	n := scratch.counts.Errors
	var objects []RunObject
	for _, o := range scratch.objects {
		if o.Kind == "error" {
			objects = append(objects, o)
		}
	}
	scratch.mu.Unlock()
	if n == 0 {
		return nil, nil
	}
	rec, err := e.startRun(ctx, systemID, DeltaSync, RunOptions{Trigger: trigger})
	if err != nil {
		return nil, fmt.Errorf("syncsvc: record sync errors: %w", err)
	}
	rec.counts.Errors, rec.objects, rec.done = n, objects, n
	return rec.finish(ctx, nil, portal.Text{})
}

// progress adds n processed objects and writes the progress now and then.
func (r *runRecord) progress(ctx context.Context, n int) {
	r.mu.Lock()
	r.done += n
	if r.id == 0 || time.Since(r.flushed) < 500*time.Millisecond {
		r.mu.Unlock()
		return
	}
	r.flushed = time.Now()
	done, counts := r.done, r.counts
	r.mu.Unlock()
	// Progress is worth a connection only when one is free: a full sync
	// calls this while it holds its transaction, and waiting for a
	// second connection then may wait for good (every other one held by
	// someone waiting too). So it waits briefly, if at all.
	if st := r.e.Pool.Stat(); st.IdleConns() == 0 && st.TotalConns() >= st.MaxConns() {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	c, _ := json.Marshal(counts) // a struct of ints always encodes
	if _, err := r.e.Pool.Exec(ctx, "UPDATE sync_runs SET processed = $2, counts = $3 WHERE id = $1", r.id, done, c); err != nil {
		// Only the live figure is lost: finish writes the run's outcome.
		r.e.logger().Warn("sync run progress not recorded", "run", r.id, "processed", done, "error", err)
	}
}

// finish records the run's outcome and its objects.
func (r *runRecord) finish(ctx context.Context, runErr error, message portal.Text) (*Run, error) {
	ctx = context.WithoutCancel(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	status := "succeeded"
	switch {
	case errors.Is(runErr, errStopped):
		status = "stopped"
	case runErr != nil:
		status, message = "failed", portal.ReasonOr(runErr)
	case r.counts.Errors > 0:
		status = "completed_with_errors"
	}
	counts, _ := json.Marshal(r.counts)
	err := pgx.BeginFunc(ctx, r.e.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE sync_runs SET status = $2, finished_at = now(), processed = $3, counts = $4,
			message = $5, message_text = $6 WHERE id = $1`, r.id, status, r.done, counts, message.String(), message.Stored()); err != nil {
			return err
		}
		rows := make([][]any, len(r.objects))
		for i, o := range r.objects {
			rows[i] = []any{r.id, i, o.Kind, o.DN, o.Detail, o.Text.Stored()}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"sync_run_objects"}, []string{"run_id", "seq", "kind", "dn", "detail", "detail_text"},
			pgx.CopyFromRows(rows))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("syncsvc: record run: %w", err)
	}
	return r.e.FindRun(ctx, r.id)
}

// errStopped ends a run that stopped for an administrator (the deletion
// threshold).
var errStopped = errors.New("stopped")

// runnable finds the system a run profile is to run on, or says why it
// cannot run.
func (e *Engine) runnable(ctx context.Context, systemID string, profile RunProfile) (*portal.ConnectedSystem, error) {
	sys, err := e.Systems.FindConnectedSystem(ctx, systemID)
	if err != nil {
		return nil, err
	}
	switch profile {
	case FullImport, DeltaImport, FullSync, DeltaSync, Export:
	default:
		return nil, portal.Errorf(portal.EINVALID, "There is no run profile %q; use one of full_import, delta_import, full_sync, delta_sync, export.", profile)
	}
	if !sys.Enabled {
		return nil, portal.Errorf(portal.ECONFLICT, "%s is disabled; enable it to run it.", sys.Name)
	}
	return sys, nil
}

// Run runs one run profile on a connected system and records it in run
// history. It waits up to a few seconds for another run of the system to
// finish, then returns ErrBusy.
func (e *Engine) Run(ctx context.Context, systemID string, profile RunProfile, opts RunOptions) (*Run, error) {
	sys, err := e.runnable(ctx, systemID, profile)
	if err != nil {
		return nil, err
	}
	ctx, l, err := e.lock(ctx, sys.ID, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer l.release(sys.ID)
	opts.lock = l
	return e.runLocked(ctx, sys, profile, opts)
}

// QueueRun records a run of profile on a connected system as queued and
// inserts the River job that runs it, in one transaction: the run outlives
// the page that started it, and any worker process runs it.
func (e *Engine) QueueRun(ctx context.Context, systemID string, profile RunProfile, opts RunOptions) (*Run, error) {
	sys, err := e.runnable(ctx, systemID, profile)
	if err != nil {
		return nil, err
	}
	if e.Queue == nil {
		return nil, errors.New("syncsvc: no job queue to run runs in")
	}
	trigger := opts.Trigger
	if trigger == "" {
		trigger = "admin"
	}
	var id int64
	err = pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO sync_runs (system_id, profile, trigger, status) VALUES ($1, $2, $3, 'queued')
			RETURNING id`, sys.ID, string(profile), trigger).Scan(&id); err != nil {
			return err
		}
		return e.Queue(ctx, tx, id, opts.ConfirmDeletes)
	})
	if err != nil {
		return nil, fmt.Errorf("syncsvc: queue run: %w", err)
	}
	return e.FindRun(ctx, id)
}

// RunQueued runs a run that QueueRun queued, or one that a killed worker
// left running. A run already over is left as it is. It returns an error
// wrapping portal.ErrTemporary while another run of the system goes on.
func (e *Engine) RunQueued(ctx context.Context, runID int64, confirmDeletes bool) error {
	run, err := e.FindRun(ctx, runID)
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		return nil // its system was deleted, and its runs with it
	} else if err != nil {
		return err
	}
	if run.Done() {
		return nil
	}
	sys, err := e.runnable(ctx, run.SystemID, run.Profile)
	if code := portal.ErrorCode(err); code == portal.ECONFLICT || code == portal.EINVALID {
		// Disabled since it was queued: the run says so, and is over.
		msg := portal.Reason(err)
		_, err = e.Pool.Exec(ctx, `UPDATE sync_runs SET status = 'failed', finished_at = now(), message = $2, message_text = $3 WHERE id = $1`,
			runID, msg.String(), msg.Stored())
		return err
	} else if err != nil {
		return err
	}
	ctx, l, err := e.lock(ctx, sys.ID, 0)
	if err != nil {
		return fmt.Errorf("%w: %w", portal.ErrTemporary, err)
	}
	defer l.release(sys.ID)
	// Under the lock, no other worker runs it: read it again, in case one
	// finished it while this one waited.
	if run, err = e.FindRun(ctx, runID); err != nil {
		return err
	}
	if run.Done() {
		return nil
	}
	_, err = e.runLocked(ctx, sys, run.Profile, RunOptions{Trigger: run.Trigger, ConfirmDeletes: confirmDeletes, queued: runID, lock: l})
	return err
}

// Done reports whether the run is over: neither queued nor running.
func (r Run) Done() bool { return r.Status != "queued" && r.Status != "running" }

func (e *Engine) runLocked(ctx context.Context, sys *portal.ConnectedSystem, profile RunProfile, opts RunOptions) (*Run, error) {
	rec, err := e.startRun(ctx, sys.ID, profile, opts)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: start run: %w", err)
	}
	var message portal.Text
	switch profile {
	case FullImport, DeltaImport:
		err = e.importRun(ctx, sys, profile == FullImport, rec)
	case FullSync:
		err = e.syncRun(ctx, sys, syncScope{all: true}, rec)
	case DeltaSync:
		err = e.deltaSyncRun(ctx, sys, rec)
	case Export:
		message, err = e.exportRun(ctx, sys, opts, rec)
	}
	return rec.finish(ctx, lockLost(ctx, err), message)
}

// lockLost returns ErrLockLost for err when the lock that ctx runs under
// was lost: what failed then failed for that, and the run says why
// rather than "context canceled".
func lockLost(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); errors.Is(cause, ErrLockLost) {
		return cause
	}
	return err
}

// FindRun returns one run.
func (e *Engine) FindRun(ctx context.Context, id int64) (*Run, error) {
	runs, err := e.runs(ctx, "WHERE r.id = $1", id)
	if err != nil {
		return nil, err
	}
	if len(runs) == 0 {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such run.")
	}
	return &runs[0], nil
}

// Runs returns the latest runs, of one system when systemID is set.
func (e *Engine) Runs(ctx context.Context, systemID string, limit int) ([]Run, error) {
	if systemID == "" {
		return e.runs(ctx, "ORDER BY r.id DESC LIMIT $1", limit)
	}
	return e.runs(ctx, "WHERE r.system_id = $2 ORDER BY r.id DESC LIMIT $1", limit, systemID)
}

func (e *Engine) runs(ctx context.Context, where string, args ...any) ([]Run, error) {
	rows, err := e.Pool.Query(ctx, `SELECT r.id, r.system_id, s.name, r.profile, r.status, r.trigger, r.started_at,
		r.finished_at, r.processed, r.counts, r.message, r.message_text FROM sync_runs r JOIN connected_systems s ON s.id = r.system_id `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: runs: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Run, error) {
		var r Run
		var counts, text []byte
		err := row.Scan(&r.ID, &r.SystemID, &r.SystemName, &r.Profile, &r.Status, &r.Trigger, &r.StartedAt, &r.FinishedAt,
			&r.Processed, &counts, &r.Message, &text)
		if err == nil {
			err = json.Unmarshal(counts, &r.Counts)
		}
		if err == nil && text != nil {
			err = json.Unmarshal(text, &r.Text)
		}
		return r, err
	})
}

// RunObjects returns the objects behind a run's counts, of one kind when
// kind is set.
func (e *Engine) RunObjects(ctx context.Context, runID int64, kind string, limit int) ([]RunObject, error) {
	rows, err := e.Pool.Query(ctx, `SELECT kind, dn, detail, detail_text FROM sync_run_objects WHERE run_id = $1 AND ($2 = '' OR kind = $2)
		ORDER BY seq LIMIT $3`, runID, kind, limit)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: run objects: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (RunObject, error) {
		var o RunObject
		var text []byte
		err := row.Scan(&o.Kind, &o.DN, &o.Detail, &text)
		if err == nil && text != nil {
			err = json.Unmarshal(text, &o.Text)
		}
		return o, err
	})
}

// open connects to sys and, when the connector can, has its imports read
// every attribute the system's sync rules use.
func (e *Engine) open(ctx context.Context, sys *portal.ConnectedSystem) (Connector, error) {
	conn, err := e.Open(ctx, *sys)
	if err != nil {
		return nil, err
	}
	if err := e.importAlso(ctx, sys, conn); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// importAlso has conn's imports read every attribute the sync rules of
// sys use, when the connector can.
func (e *Engine) importAlso(ctx context.Context, sys *portal.ConnectedSystem, conn Connector) error {
	if ai, ok := conn.(AttributeImporter); ok {
		names, err := e.ruleAttributes(ctx, sys.ID)
		if err != nil {
			return err
		}
		ai.ImportAlso(names)
	}
	return nil
}

var csReference = regexp.MustCompile(`\bcs\.([A-Za-z][A-Za-z0-9-]*)`)

// ruleAttributes lists the connected system's attributes its sync rules
// read (join rules, inbound flows) or write (outbound flows).
func (e *Engine) ruleAttributes(ctx context.Context, systemID string) ([]string, error) {
	list, err := e.rulesOf(ctx, e.Pool, systemID)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range list {
		for _, j := range r.JoinRules {
			names = append(names, j.CS)
		}
		for _, f := range r.Outbound {
			names = append(names, f.CS)
		}
		for _, f := range r.Inbound {
			for _, m := range csReference.FindAllStringSubmatch(f.Expr, -1) {
				names = append(names, m[1])
			}
		}
	}
	return names, nil
}

// setReachable records whether the system answered.
func (e *Engine) setReachable(ctx context.Context, systemID string, err error) {
	ctx = context.WithoutCancel(ctx)
	var werr error
	if err == nil {
		_, werr = e.Pool.Exec(ctx, `UPDATE connected_systems SET reachable = true WHERE id = $1 AND NOT reachable`, systemID)
	} else {
		_, werr = e.Pool.Exec(ctx, `UPDATE connected_systems SET reachable = false, last_error = $2, last_error_at = now() WHERE id = $1`,
			systemID, err.Error())
	}
	if werr != nil {
		// The run goes on; what is lost is the status page's word on
		// whether the system answered.
		e.logger().Warn("connected system reachability not recorded", "system", systemID, "reachable", err == nil,
			"cause", err, "error", werr)
	}
}

// ByType opens each connected system with the opener of its type.
func ByType(openers map[portal.SystemType]Opener) Opener {
	return func(ctx context.Context, sys portal.ConnectedSystem) (Connector, error) {
		open, ok := openers[sys.Type]
		if !ok {
			return nil, fmt.Errorf("syncsvc: no connector for connected systems of type %q", sys.Type)
		}
		return open(ctx, sys)
	}
}

// TestersByType runs "Test connection" with the tester of the system's type.
type TestersByType map[portal.SystemType]portal.ConnectionTester

// TestConnection tests sys with its type's tester.
func (t TestersByType) TestConnection(ctx context.Context, sys portal.ConnectedSystem) error {
	typ := sys.Type
	if typ == "" {
		typ = portal.SystemAD
	}
	tester, ok := t[typ]
	if !ok {
		return fmt.Errorf("syncsvc: no connection test for connected systems of type %q", sys.Type)
	}
	return tester.TestConnection(ctx, sys)
}
