// Package postgres implements the portal services on PostgreSQL with pgx.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/portal"
)

// DB is the Postgres-backed implementation of the portal services.
type DB struct {
	Pool *pgxpool.Pool
	// Jobs inserts follow-up River jobs in the same transaction as the
	// change that needs them.
	Jobs JobInserter
	// Clock tells the time for deadlines and sign-in budgets; nil means
	// time.Now. Tests set it.
	Clock func() time.Time
	// Email says whether notification emails are sent; without a mail
	// server no notification jobs are queued.
	Email bool
	// AuditChainWait bounds how long verification and the checkpoint wait
	// for audit writers still running before they read the chain (zero:
	// 10 seconds): a sync run may hold its transaction for minutes, and
	// its entries, and the ones after them, then wait to be chained, each
	// still checked by its own MAC.
	AuditChainWait time.Duration

	rules rulesCopy // the dynamic group rules, as of a version
}

func (db *DB) now() time.Time {
	if db.Clock != nil {
		return db.Clock()
	}
	return time.Now()
}

// New returns a DB on pool.
func New(pool *pgxpool.Pool) *DB {
	dummyHash()
	return &DB{Pool: pool}
}

// Open connects to the database at url with a pool of pgx's size (the
// URL's pool_max_conns, else max(4, CPUs)). A small pool makes work wait
// its turn, never wait for good: no work holds a pool connection while it
// waits for another (the sync engine keeps its locks on sessions of its
// own, syncsvc/locksession.go; TestSmallPoolCarriesRunsExportsAndHRAtOnce
// runs a sync, people's exports and an HR file at once on three).
// With a key, every connection appends to the audit chain (and verifies it)
// with HMAC under the key's chain key; without one, with plain SHA-256.
func Open(ctx context.Context, url string, key *portal.AuditKey) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, portal.Errorf(portal.EINVALID, "DATABASE_URL is not a valid PostgreSQL URL: %v", err)
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "tessera"
	// No JIT compilation: Tessera's statements each read a few rows, and
	// PostgreSQL compiles a statement at every execution once its plan's
	// estimated cost passes jit_above_cost, which a generic plan's guess
	// can do with no large read behind it. The reset flow's statements,
	// with the roles read as the session reads them, were compiled at
	// every call (pg_stat_statements: ~53 functions a call, 400-1,125 ms
	// a call at 16-84 buffers, in BenchmarkPasswordReset). A URL that
	// sets jit keeps its own (TestSessionsRunWithoutJIT).
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if key != nil {
		// A startup parameter, not a statement, so that statement logging
		// never records the key; PostgreSQL keeps it in the session only.
		cfg.ConnConfig.RuntimeParams["tessera.audit_key"] = hex.EncodeToString(key.ChainKey())
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return pool, nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validID reports whether id has the shape of a UUID, so that a malformed
// ID in a URL is a plain "not found" and never reaches SQL as an error.
func validID(id string) bool { return uuidRE.MatchString(id) }

// queryWords splits a normalised query into at most eight words.
func queryWords(q string) []string {
	words := strings.Fields(q)
	if len(words) > 8 {
		words = words[:8]
	}
	return words
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike escapes LIKE's metacharacters so that they match themselves.
func escapeLike(s string) string { return likeEscaper.Replace(s) }

// isNoRows reports whether err is pgx's "no rows".
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// isUniqueViolation reports whether err is a unique-constraint violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Audit appends an entry to the hash-chained audit log inside tx.
func Audit(ctx context.Context, tx pgx.Tx, actorID, action, targetType, targetID string, details map[string]any) error {
	var actor any
	if actorID != "" {
		actor = actorID
	}
	if details == nil {
		details = map[string]any{}
	}
	if _, err := tx.Exec(ctx, "SELECT audit_append($1, $2, $3, $4, $5)", actor, action, targetType, targetID, details); err != nil {
		return fmt.Errorf("postgres: audit: %w", err)
	}
	return nil
}

var errAlreadySeeded = portal.Errorf(portal.ECONFLICT, "The database already has people; seeding only fills an empty database.")

// portalHash hashes a password for storage.
func portalHash(password string) string { return portal.HashPassword(password) }

// storeError passes domain errors (with a code people can read) through and
// wraps the others with the operation that failed.
func storeError(op string, err error) error {
	if err == nil || portal.ErrorCode(err) != portal.EINTERNAL {
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// nullable turns an empty ID into SQL NULL.
func nullable(id string) any {
	if id == "" {
		return nil
	}
	return id
}

// newUUID returns a random (version 4) UUID, for rows whose ID a statement
// batched after their insert needs to know.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// execBatch runs statements in one round trip, in order.
func execBatch(ctx context.Context, tx pgx.Tx, stmts ...stmt) error {
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.SQL, st.Args...)
	}
	return tx.SendBatch(ctx, b).Close()
}

// finalTx is a transaction that can end with its last statements: finish
// sends them and the COMMIT in one round trip. The request pipeline's
// transactions end so: Postgres commits as soon as the last rows are
// written, instead of holding the transaction's row locks while the result
// travels to Tessera and the COMMIT back, which on a busy machine is most
// of the time a concurrent decision on the same request waits.
//
// pgx does not see that COMMIT, so it would let a statement issued after
// finish run in autocommit, outside the transaction, without a word: after
// finish, the embedded Tx is replaced by one that refuses everything.
type finalTx struct {
	pgx.Tx
	done bool
	// ahead are statements that go in front of the transaction's next
	// round trip (sendAhead).
	ahead *pgx.Batch
}

// sendAhead queues b's statements to go to Postgres in front of the
// transaction's next statements, in their round trip, rather than in one
// of their own: a submission's request and record, with its approval and
// the COMMIT. Whatever the transaction sends next, through any of its
// methods, they go first; when nothing follows, inTx sends them before it
// commits. Their errors are the next statement's (or the commit's).
func (t *finalTx) sendAhead(b *pgx.Batch) {
	if t.ahead == nil {
		t.ahead = b
		return
	}
	t.ahead.QueuedQueries = append(t.ahead.QueuedQueries, b.QueuedQueries...)
}

// flush sends the statements queued ahead, if any, on their own.
func (t *finalTx) flush(ctx context.Context) error {
	if t.ahead == nil {
		return nil
	}
	b := t.ahead
	t.ahead = nil
	return t.Tx.SendBatch(ctx, b).Close()
}

// SendBatch sends b behind the statements queued ahead, in one round trip,
// and reads theirs before handing b's results over.
func (t *finalTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.ahead == nil {
		return t.Tx.SendBatch(ctx, b)
	}
	ahead := t.ahead
	t.ahead = nil
	n := len(ahead.QueuedQueries)
	both := &pgx.Batch{QueuedQueries: append(slices.Clip(ahead.QueuedQueries), b.QueuedQueries...)}
	br := t.Tx.SendBatch(ctx, both)
	for _, q := range both.QueuedQueries[:n] {
		var err error
		if q.Fn != nil {
			err = q.Fn(br)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			br.Close() //nolint:errcheck // err is what failed
			return pgx.FailedBatchResults(b, err)
		}
	}
	return br
}

// The other ways to send a statement send those queued ahead first.

func (t *finalTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if err := t.flush(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return t.Tx.Exec(ctx, sql, args...)
}

func (t *finalTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.Tx.Query(ctx, sql, args...)
}

func (t *finalTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := t.flush(ctx); err != nil {
		return errRow{err}
	}
	return t.Tx.QueryRow(ctx, sql, args...)
}

func (t *finalTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	return t.Tx.CopyFrom(ctx, table, cols, src)
}

func (t *finalTx) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.Tx.Begin(ctx)
}

func (t *finalTx) Commit(ctx context.Context) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	return t.Tx.Commit(ctx)
}

// errTxFinished is what a statement issued after finish gets.
var errTxFinished = errors.New("postgres: statement after the transaction's final COMMIT")

// finish runs stmts and commits, in one round trip. After it, the
// transaction is over whatever it returns.
func (t *finalTx) finish(ctx context.Context, stmts ...stmt) error {
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.SQL, st.Args...)
	}
	return t.finishBatch(ctx, b)
}

// finishBatch is finish for a batch whose results the caller reads.
func (t *finalTx) finishBatch(ctx context.Context, b *pgx.Batch) error {
	if t.done {
		return errTxFinished
	}
	t.done = true
	if t.ahead != nil {
		b = &pgx.Batch{QueuedQueries: append(slices.Clip(t.ahead.QueuedQueries), b.QueuedQueries...)}
		t.ahead = nil
	}
	b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		// COMMIT of a transaction that failed earlier rolls it back.
		if tag.String() != "COMMIT" {
			return errors.New("postgres: the transaction was rolled back")
		}
		return nil
	})
	tx := t.Tx
	t.Tx = finishedTx{}
	return tx.SendBatch(ctx, b).Close()
}

// finishedTx is a finalTx's transaction after finish: every statement
// fails with errTxFinished.
type finishedTx struct{}

func (finishedTx) Begin(context.Context) (pgx.Tx, error) { return nil, errTxFinished }
func (finishedTx) Commit(context.Context) error          { return errTxFinished }
func (finishedTx) Rollback(context.Context) error        { return errTxFinished }
func (finishedTx) CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error) {
	return 0, errTxFinished
}
func (finishedTx) SendBatch(context.Context, *pgx.Batch) pgx.BatchResults { return finishedBatch{} }
func (finishedTx) LargeObjects() pgx.LargeObjects                         { return pgx.LargeObjects{} }
func (finishedTx) Prepare(context.Context, string, string) (*pgconn.StatementDescription, error) {
	return nil, errTxFinished
}
func (finishedTx) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, errTxFinished
}
func (finishedTx) Query(context.Context, string, ...any) (pgx.Rows, error) { return nil, errTxFinished }
func (finishedTx) QueryRow(context.Context, string, ...any) pgx.Row        { return finishedRow{} }
func (finishedTx) Conn() *pgx.Conn                                         { return nil }

type finishedRow struct{}

func (finishedRow) Scan(...any) error { return errTxFinished }

type finishedBatch struct{}

func (finishedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, errTxFinished }
func (finishedBatch) Query() (pgx.Rows, error)         { return nil, errTxFinished }
func (finishedBatch) QueryRow() pgx.Row                { return finishedRow{} }
func (finishedBatch) Close() error                     { return errTxFinished }
func (finishedBatch) Tx() pgx.Tx                       { return finishedTx{} }

// lazyTx is a transaction whose BEGIN goes to Postgres with its first
// statements, in their round trip (pgx's Batch.BeginTx), instead of in one
// of its own: the request pipeline's transactions start with a batch (a
// submission's reads, a decision's locks), and a round trip less is one
// wait less for a pooled connection and for the backend to be scheduled
// again. A first statement that is not a batch begins it as pgx does.
// Once begun, it is pgx's transaction.
type lazyTx struct {
	conn  *pgx.Conn
	tx    pgx.Tx // nil until begun
	ended bool   // committed or rolled back before it began
}

// begin begins the transaction on its own, for a first statement that is
// not a batch.
func (t *lazyTx) begin(ctx context.Context) (pgx.Tx, error) {
	if t.tx != nil {
		return t.tx, nil
	}
	if t.ended {
		return nil, pgx.ErrTxClosed
	}
	tx, err := t.conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	t.tx = tx
	return tx, nil
}

func (t *lazyTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Begin(ctx)
}

// Commit and Rollback of a transaction that never began have nothing to
// end.
func (t *lazyTx) Commit(ctx context.Context) error {
	if t.tx == nil {
		return t.end()
	}
	return t.tx.Commit(ctx)
}

func (t *lazyTx) Rollback(ctx context.Context) error {
	if t.tx == nil {
		return t.end()
	}
	return t.tx.Rollback(ctx)
}

func (t *lazyTx) end() error {
	if t.ended {
		return pgx.ErrTxClosed
	}
	t.ended = true
	return nil
}

func (t *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return 0, err
	}
	return tx.CopyFrom(ctx, table, cols, src)
}

// SendBatch begins the transaction in the first batch, and reads the
// BEGIN's result before handing the batch's results over, so that they
// are the caller's queries' alone.
func (t *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if t.tx != nil {
		return t.tx.SendBatch(ctx, b)
	}
	if t.ended {
		return pgx.FailedBatchResults(b, pgx.ErrTxClosed)
	}
	first := &pgx.Batch{}
	first.BeginTx(pgx.TxOptions{})
	first.QueuedQueries = append(first.QueuedQueries, b.QueuedQueries...)
	br := t.conn.SendBatch(ctx, first)
	t.tx = br.Tx()
	if _, err := br.Exec(); err != nil {
		br.Close() //nolint:errcheck // err is what failed
		return pgx.FailedBatchResults(b, err)
	}
	return br
}

func (t *lazyTx) LargeObjects() pgx.LargeObjects {
	tx, err := t.begin(context.Background())
	if err != nil {
		return pgx.LargeObjects{}
	}
	return tx.LargeObjects()
}

func (t *lazyTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	return t.conn.Prepare(ctx, name, sql)
}

func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return tx.Exec(ctx, sql, args...)
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	tx, err := t.begin(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Query(ctx, sql, args...)
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	tx, err := t.begin(ctx)
	if err != nil {
		return errRow{err}
	}
	return tx.QueryRow(ctx, sql, args...)
}

// errRow is the row of a statement that could not be sent.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (t *lazyTx) Conn() *pgx.Conn { return t.conn }

// inTx runs fn in a transaction on a connection of its own, which fn may
// end with finish; otherwise it is committed when fn returns nil and
// rolled back when fn fails.
func (db *DB) inTx(ctx context.Context, fn func(tx *finalTx) error) error {
	conn, err := db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection left inside a transaction (a failed ROLLBACK) is closed
	// by the pool rather than reused.
	defer conn.Release()
	tx := &lazyTx{conn: conn.Conn()}
	t := &finalTx{Tx: tx}
	if err := fn(t); err != nil {
		// Also after a failed finish: its COMMIT did not run (the
		// transaction is aborted) or failed (it is over); either way a
		// ROLLBACK leaves the connection idle.
		tx.Rollback(ctx) //nolint:errcheck
		return err
	}
	if t.done {
		return nil
	}
	if t.ahead != nil {
		// The statements queued ahead go with the COMMIT, in its round
		// trip.
		if err := t.finishBatch(ctx, &pgx.Batch{}); err != nil {
			tx.Rollback(ctx) //nolint:errcheck
			return err
		}
		return nil
	}
	return tx.Commit(ctx)
}
