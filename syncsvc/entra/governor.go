package entra

import (
	"context"
	"sync"
	"time"
)

// headroom is the share of the budget's rate that bulk work is paced at:
// the rest is room for the changes people wait for.
const headroom = 0.98

// catchUp is how far behind its pace bulk work may fall and then send at
// once: the time it spent elsewhere (recording a batch, handing the
// system to a person's change) is not lost to the budget. The window
// below keeps such bursts within the budget.
const catchUp = time.Second

// Governor keeps the writes to one tenant within its write budget instead
// of running into 429s, and lets a change a person is waiting for go ahead
// of queued bulk work. It is safe for concurrent use.
//
// Graph counts a write in its window from the moment the write reaches it,
// which is after the governor lets it go and before its answer comes back.
// So a write takes up room in the governor's window from the moment it is
// let go until one window after its answer arrived (Done): whatever the
// trip took, no window of Graph's can hold more writes than the governor's
// held at the moment it let the last of them go, and that is never more
// than the budget. Batch items count one write each, as Graph counts them.
type Governor struct {
	mu       sync.Mutex
	budget   int
	interval time.Duration // the time one write takes of the budget's pace
	window   time.Duration
	next     time.Time // when the next bulk write may go
	paused   time.Time // no write before this (a Retry-After)
	inFlight int       // writes let go whose answer has not come back
	// done are the writes answered, by when they leave the window, oldest
	// first.
	done []expiry
	// wake is closed (and replaced) when writes leave the window early:
	// their answer came back.
	wake chan struct{}
	// ledger, when set, counts the window's writes with the other
	// processes of the database (key names the app and tenant there) in
	// place of inFlight and done, which see this process only.
	ledger *Ledger
	key    string
}

type expiry struct {
	at time.Time
	n  int
}

// NewGovernor keeps to budget writes per window.
func NewGovernor(budget int, window time.Duration) *Governor {
	g := &Governor{wake: make(chan struct{})}
	g.SetBudget(budget, window)
	return g
}

// SetBudget changes the budget; a budget below 1 means no pacing. The
// writes already counted stay counted.
func (g *Governor) SetBudget(budget int, window time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if budget < 1 {
		g.budget, g.interval = 0, 0
		return
	}
	g.budget, g.window = budget, window
	g.interval = time.Duration(float64(window) / (float64(budget) * headroom))
}

// reserve is the part of the window bulk work leaves to people's changes.
func (g *Governor) reserve() int { return min(MaxBatch, g.budget/50) }

// Wait blocks until n writes may be sent and returns the function to call
// when their answer came back (whatever it was). A high-priority caller (a
// person waiting) takes the next moment the tenant allows, ahead of bulk
// writes that reserved their slots earlier, and pushes the bulk back by its
// own share, so that the pace over time stays within the budget.
func (g *Governor) Wait(ctx context.Context, high bool, n int) (done func(), err error) {
	if n <= 0 {
		return func() {}, nil
	}
	g.mu.Lock()
	now := time.Now()
	if g.budget == 0 { // no budget: only Retry-After holds writes back
		at := later(now, g.paused)
		g.mu.Unlock()
		return func() {}, sleep(ctx, time.Until(at))
	}
	if g.next.IsZero() {
		g.next = now // a first write has nothing to catch up on
	}
	at := later(now, g.paused)
	if !high {
		at = later(at, g.next)
	}
	// Behind its pace (it was busy elsewhere), bulk work may catch up; a
	// person's write pushes it back by its own share.
	g.next = later(g.next, now.Add(-catchUp)).Add(time.Duration(n) * g.interval)
	g.mu.Unlock()
	if err := sleep(ctx, time.Until(at)); err != nil {
		return nil, err
	}
	if g.ledger != nil {
		return g.waitShared(ctx, high, n)
	}
	for {
		g.mu.Lock()
		now = time.Now()
		for len(g.done) > 0 && !now.Before(g.done[0].at) {
			g.done = g.done[1:]
		}
		limit := g.budget
		if !high {
			limit -= g.reserve()
		}
		used := g.inFlight
		for _, d := range g.done {
			used += d.n
		}
		if now.Before(g.paused) {
			wait := g.paused.Sub(now)
			g.mu.Unlock()
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			continue
		}
		// More writes than the window holds go when it is empty.
		if used+n <= limit || used == 0 {
			g.inFlight += n
			g.mu.Unlock()
			return g.doneFunc(n), nil
		}
		// Wait for enough answered writes to leave the window, or for
		// writes in flight to be answered (which starts their clock).
		wait := time.Duration(-1)
		need := used + n - limit
		for _, d := range g.done {
			if need -= d.n; need <= 0 {
				wait = d.at.Sub(now)
				break
			}
		}
		wake := g.wake
		g.mu.Unlock()
		var timer *time.Timer
		var expired <-chan time.Time
		if wait >= 0 {
			timer = time.NewTimer(wait)
			expired = timer.C
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-expired:
		}
		if timer != nil {
			timer.Stop()
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// sharedPoll is how often a governor asks the ledger again while the
// window is full of writes still in flight (in this process or another):
// they leave it no sooner than a window after their answer, which no
// process here can be told of.
const sharedPoll = 10 * time.Millisecond

// waitShared is the window's check of Wait when the ledger counts the
// writes of every process: the pace and the priority lane stay this
// process's, the room in the window is the tenant's.
func (g *Governor) waitShared(ctx context.Context, high bool, n int) (func(), error) {
	for {
		g.mu.Lock()
		limit, window, paused := g.budget, g.window, g.paused
		if !high {
			limit -= g.reserve()
		}
		g.mu.Unlock()
		if d := time.Until(paused); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return nil, err
			}
			continue
		}
		id, wait, err := g.ledger.take(ctx, g.key, n, limit, window)
		if err != nil {
			return nil, err
		}
		if id != 0 {
			// The answer is recorded off the caller's way: until it is,
			// the write counts as in flight, which holds the others back
			// a moment longer, never less.
			var once sync.Once
			return func() { once.Do(func() { go g.ledger.answered(id) }) }, nil
		}
		if wait <= 0 {
			wait = sharedPoll
		}
		if err := sleep(ctx, min(wait, time.Second)); err != nil {
			return nil, err
		}
	}
}

// doneFunc is what Wait returns: it starts the window of n writes let go,
// once.
func (g *Governor) doneFunc(n int) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.inFlight -= n
			g.done = append(g.done, expiry{at: time.Now().Add(g.window), n: n})
			close(g.wake)
			g.wake = make(chan struct{})
		})
	}
}

// Pause holds every write back for d: Graph said to retry after it. With
// a ledger, the other processes are told too.
func (g *Governor) Pause(d time.Duration) {
	g.mu.Lock()
	g.paused = later(g.paused, time.Now().Add(d))
	ledger := g.ledger
	g.mu.Unlock()
	if ledger != nil {
		ledger.pause(g.key, d)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
