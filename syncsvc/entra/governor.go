package entra

import (
	"context"
	"sync"
	"time"
)

// headroom is the share of the budget the governor spends: Graph counts
// writes in a sliding window from its own clock, which a write reaches a
// little after the governor let it go.
const headroom = 0.98

// catchUp is how far behind its pace bulk work may fall and then send at
// once: the time it spent elsewhere (recording a batch, handing the
// system to a person's change) is not lost to the budget. The sliding
// window below keeps such bursts within the budget.
const catchUp = time.Second

// Governor paces writes to one tenant so that they stay within the write
// budget instead of running into 429s, and lets a change a person is
// waiting for go ahead of queued bulk work. It is safe for concurrent use.
type Governor struct {
	mu       sync.Mutex
	interval time.Duration // the time one write takes of the budget
	window   time.Duration
	next     time.Time // when the next bulk write may go
	paused   time.Time // no write before this (a Retry-After)
	// sent are the times of the last writes let go, oldest first at
	// head, at most the budget's worth: no write goes before the oldest
	// has left the window.
	sent []time.Time
	head int
}

// NewGovernor paces budget writes per window.
func NewGovernor(budget int, window time.Duration) *Governor {
	g := &Governor{}
	g.SetBudget(budget, window)
	return g
}

// SetBudget changes the pace; a budget below 1 means no pacing.
func (g *Governor) SetBudget(budget int, window time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent, g.head = nil, 0
	if budget < 1 {
		g.interval = 0
		return
	}
	g.interval = time.Duration(float64(window) / (float64(budget) * headroom))
	g.window = window
	g.sent = make([]time.Time, 0, max(1, int(float64(budget)*headroom)))
}

// Wait blocks until n writes may be sent. A high-priority caller (a person
// waiting) takes the next moment the tenant allows, ahead of bulk writes
// that reserved their slots earlier, and pushes the bulk back by its own
// share, so that the pace over time stays within the budget.
func (g *Governor) Wait(ctx context.Context, high bool, n int) error {
	if n <= 0 {
		return nil
	}
	g.mu.Lock()
	now := time.Now()
	if g.interval == 0 { // no budget: only Retry-After holds writes back
		at := later(now, g.paused)
		g.mu.Unlock()
		return sleep(ctx, time.Until(at))
	}
	cost := time.Duration(n) * g.interval
	if g.next.IsZero() {
		g.next = now // a first write has nothing to catch up on
	}
	var at time.Time
	if high {
		at = later(now, g.paused)
		g.next = later(g.next, now.Add(-catchUp)).Add(cost)
	} else {
		at = later(later(now, g.next), g.paused)
		// Behind its pace (it was busy elsewhere): it may catch up.
		g.next = later(g.next, now.Add(-catchUp)).Add(cost)
	}
	at = later(at, g.room(n))
	g.record(at, n)
	g.mu.Unlock()
	return sleep(ctx, time.Until(at))
}

// room is when n more writes fit in the sliding window.
func (g *Governor) room(n int) time.Time {
	c := cap(g.sent)
	over := len(g.sent) + n - c
	if over <= 0 {
		return time.Time{}
	}
	if len(g.sent) == 0 {
		return time.Time{}
	}
	// The over-th oldest write must have left the window (all of them,
	// for more writes than the window holds).
	over = min(over, len(g.sent))
	return g.sent[(g.head+over-1)%c].Add(g.window)
}

// record notes n writes let go at at.
func (g *Governor) record(at time.Time, n int) {
	c := cap(g.sent)
	for range n {
		if len(g.sent) < c {
			g.sent = append(g.sent, at)
			continue
		}
		g.sent[g.head] = at
		g.head = (g.head + 1) % c
	}
}

// Pause holds every write back for d: Graph said to retry after it.
func (g *Governor) Pause(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paused = later(g.paused, time.Now().Add(d))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
