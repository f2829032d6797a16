package hr_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// A pool of three connections carries a sync run, people's own changes
// exported as they are made, and an HR file, all at once. The engine held
// a pool connection for each run lock and one for the marks of people's
// changes while the work under them took more from the same pool, and
// some of that work held a transaction while it read through the pool:
// with few connections every one of them was held by something waiting
// for another, and nothing moved again (a floor of 16 connections hid it).
// Work under a lock now takes one pool connection at a time.
func TestSmallPoolCarriesRunsExportsAndHRAtOnce(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(harness.DatabaseURL(t))
	require.NoError(t, err)
	q := u.Query()
	q.Set("pool_max_conns", "3")
	u.RawQuery = q.Encode()
	f := newFixtureOn(t, harness.Pool(t, u.String()))
	require.EqualValues(t, 3, f.pool.Config().MaxConns)
	jobs, err := river.NewClient(riverpgxv5.New(f.pool), &river.Config{})
	require.NoError(t, err)
	f.db.Jobs = jobs

	const n = 6
	var base []row
	for i := range n {
		base = append(base, row{fmt.Sprintf("P%d", i), "Pia", fmt.Sprintf("Pool%d", i), "Seller", "Sales", "", "", ""})
	}
	require.Equal(t, hr.StatusQueued, f.receive(t, []byte(f.file(",", base...))).Status)
	f.applyQueued(t)
	people := map[string]string{} // employee ID → person ID
	rows, err := f.pool.Query(context.Background(), "SELECT employee_id, id::text FROM people WHERE employee_id LIKE 'P%'")
	require.NoError(t, err)
	for rows.Next() {
		var emp, id string
		require.NoError(t, rows.Scan(&emp, &id))
		people[emp] = id
	}
	require.NoError(t, rows.Err())
	require.Len(t, people, n)

	// Every piece of work gives up by this deadline: a deadlock fails
	// the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// again retries what the engine says to try again later (a run
	// lock another piece of work holds).
	again := func(what string, fn func() error) error {
		for {
			err := fn()
			if err == nil || !(errors.Is(err, portal.ErrTemporary) || errors.Is(err, syncsvc.ErrBusy)) {
				if err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n+4)
	work := func(fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fn()
		}()
	}
	for round := range 2 {
		work(func() error {
			return again("full sync and export", func() error {
				for _, p := range []syncsvc.RunProfile{syncsvc.FullSync, syncsvc.Export} {
					run, err := f.engine.Run(ctx, f.ad.System.ID, p, syncsvc.RunOptions{})
					if err != nil {
						return err
					}
					if run.Status == "failed" {
						return fmt.Errorf("%s failed: %s", p, run.Message)
					}
				}
				return nil
			})
		})
		for i := range n {
			emp := fmt.Sprintf("P%d", i)
			work(func() error {
				id := people[emp]
				r, err := f.db.Submit(ctx, portal.Viewer{PersonID: id}, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: id,
					Changes: map[string]string{"phone": fmt.Sprintf("+41 44 555 %02d %02d", round, i)}})
				if err != nil {
					return fmt.Errorf("submit: %w", err)
				}
				return again("export of "+emp+"'s request", func() error { return f.engine.ExportRequests(ctx, []string{r.ID}) })
			})
		}
	}
	moved := append([]row(nil), base...)
	for i := range moved {
		moved[i].title = "Senior Seller"
	}
	work(func() error {
		u, err := f.svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: f.hrID, Source: "cli", Filename: "people.csv",
			Content: []byte(f.file(",", moved...)), Apply: true})
		if err != nil {
			return fmt.Errorf("HR file: %w", err)
		}
		if u.Status != hr.StatusQueued {
			return fmt.Errorf("HR file %s: %s", u.Status, u.Message)
		}
		f.mu.Lock()
		ids := f.queued
		f.queued = nil
		f.mu.Unlock()
		for _, id := range ids {
			if err := again("HR file", func() error { return f.svc.ApplyHRUpload(ctx, id) }); err != nil {
				return err
			}
		}
		return nil
	})
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the work did not end even after its deadline: something waits without its context")
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	// Everything reached AD.
	for i := range n {
		e := f.account(t, f.prefix+fmt.Sprintf("p%d", i))
		require.Equal(t, "Senior Seller", e.GetAttributeValue("title"))
	}
	var phones int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM people WHERE employee_id LIKE 'P%' AND phone LIKE '+41 44 555 %'`).
		Scan(&phones))
	require.Equal(t, n, phones)
	var open int
	require.NoError(t, f.pool.QueryRow(context.Background(), `SELECT count(*) FROM requests WHERE status NOT IN ('completed', 'superseded')`).
		Scan(&open))
	require.Zero(t, open, "every request was carried to AD and confirmed")
}
