package entra

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Ledger counts the Graph writes of every process that shares one
// PostgreSQL database (migrations/0041_entra_write_ledger.sql): Graph's
// write quota is per app and tenant, however many worker processes send
// the writes, so each process's governor takes its room in the budget's
// window here, where the others see it. The database's clock times every
// write, so the processes' clocks need not agree.
type Ledger struct {
	pool *pgxpool.Pool
}

// NewLedger counts writes in the database behind pool.
func NewLedger(pool *pgxpool.Pool) *Ledger { return &Ledger{pool: pool} }

// inFlightLimit is how long a write let go without an answer stays in
// flight, counted in every window: the client's HTTP timeout, with room.
// A process killed mid-request never reports the answer; its writes leave
// the window this long plus one window after they were let go.
const inFlightLimit = 2 * time.Minute

// take counts n writes of key in the window, if the writes counted there
// (in flight, or answered less than a window ago) leave room for them
// under limit, or if the window holds none. It returns the row to mark
// answered, or how long to wait before asking again: until a Retry-After
// passes, or until enough answered writes leave the window (writes still
// in flight leave no sooner than a window after now, so a wait of zero
// means ask again shortly). One round trip: entra_take_writes.
func (l *Ledger) take(ctx context.Context, key string, n, limit int, window time.Duration) (id int64, wait time.Duration, err error) {
	var taken *int64
	var w *float64
	if err := l.pool.QueryRow(ctx, `SELECT taken, wait FROM entra_take_writes($1, $2, $3, $4, $5)`,
		key, n, limit, window.Seconds(), inFlightLimit.Seconds()).Scan(&taken, &w); err != nil {
		return 0, 0, fmt.Errorf("entra: write ledger: %w", err)
	}
	if taken != nil {
		return *taken, 0, nil
	}
	if w != nil {
		wait = seconds(*w)
	}
	return 0, wait, nil
}

// answered starts the window of a write taken: its answer came back.
func (l *Ledger) answered(id int64) {
	// The answer came back whatever the caller's context became.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.pool.Exec(ctx, `UPDATE entra_writes SET answered_at = clock_timestamp() WHERE id = $1`, id); err != nil {
		// Only time is lost: the write counts as in flight, holding the
		// others back, until inFlightLimit.
		slog.Warn("entra: write ledger: the answer to a write is not recorded", "err", err)
	}
}

// pause holds every process's writes of key back for d: Graph said to
// retry after it.
func (l *Ledger) pause(key string, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.pool.Exec(ctx, `INSERT INTO entra_write_budgets (key, paused_until) VALUES ($1, clock_timestamp() + $2 * interval '1 second')
		ON CONFLICT (key) DO UPDATE SET paused_until = greatest(entra_write_budgets.paused_until, excluded.paused_until)`,
		key, d.Seconds()); err != nil {
		// This process pauses itself all the same; the others may meet a
		// 429 of their own and pause then.
		slog.Warn("entra: write ledger: a Retry-After is not shared with the other processes", "err", err)
	}
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
