package entra

import (
	"context"
	"sync"
	"time"
)

// headroom is the share of the budget the governor spends: writes sent
// evenly, a batch at a time, must not fill a sliding window Graph counts
// from any instant.
const headroom = 0.98

// Governor paces writes to one tenant so that they stay within the write
// budget instead of running into 429s, and lets a change a person is
// waiting for go ahead of queued bulk work. It is safe for concurrent use.
type Governor struct {
	mu       sync.Mutex
	interval time.Duration // the time one write takes of the budget
	next     time.Time     // when the next bulk write may go
	paused   time.Time     // no write before this (a Retry-After)
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
	if budget < 1 {
		g.interval = 0
		return
	}
	g.interval = time.Duration(float64(window) / (float64(budget) * headroom))
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
	cost := time.Duration(n) * g.interval
	var at time.Time
	if high {
		at = later(now, g.paused)
		g.next = later(g.next, now).Add(cost)
	} else {
		at = later(later(now, g.next), g.paused)
		g.next = at.Add(cost)
	}
	g.mu.Unlock()
	return sleep(ctx, time.Until(at))
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
