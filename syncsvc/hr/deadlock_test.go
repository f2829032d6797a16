package hr_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// People change their own phone while an HR file changes their title, at
// the same moment, round after round. Both wrote the same people's rows:
// each first took the row's key-share lock (a submission through its
// request's reference to the person, the sync through the person's
// attribute sources) and then upgraded it to FOR UPDATE, which waits for
// the other's key-share lock: PostgreSQL found the cycle and ended one of
// them with a deadlock (40P01), and the person saw an error. Neither
// side may fail now, and every change lands exactly once.
func TestSubmitsWhileHRChangesTheSamePeople(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newHRWorld(t)
	jobs, err := river.NewClient(riverpgxv5.New(w.pool), &river.Config{})
	require.NoError(t, err)
	w.db.Jobs = jobs
	cols := hr.DefaultColumns()
	delete(cols, hr.FieldPhone) // the phone is the people's own to change
	src, err := w.svc.CreateSource(ctx, w.admin, "HR", hr.Settings{Columns: cols})
	require.NoError(t, err)
	const n, rounds = 16, 6
	file := func(title string) []byte {
		s := "EmployeeID,FirstName,LastName,JobTitle,Department\n"
		for i := range n {
			s += fmt.Sprintf("D%02d,Dora,Lock%02d,%s,Sales\n", i, i, title)
		}
		return []byte(s)
	}
	apply := func(title string) error {
		u, err := w.svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: src, Source: "cli", Filename: "people.csv",
			Content: file(title), Apply: true})
		if err != nil {
			return err
		}
		if len(w.queued) != 1 {
			return fmt.Errorf("HR file %s: %s", u.Status, u.Message)
		}
		id := w.queued[0]
		w.queued = nil
		if err := w.svc.ApplyHRUpload(ctx, id); err != nil {
			return err
		}
		if u, err = w.svc.Upload(ctx, id); err != nil {
			return err
		}
		if u.Status != hr.StatusApplied {
			return fmt.Errorf("HR file %s: %s", u.Status, u.Message)
		}
		return nil
	}
	require.NoError(t, apply("Seller"))
	people := make([]string, n)
	for i := range n {
		require.NoError(t, w.pool.QueryRow(ctx, "SELECT id::text FROM people WHERE employee_id = $1", fmt.Sprintf("D%02d", i)).Scan(&people[i]))
	}

	// Each person submits one change after another for as long as the
	// round's HR file is being applied, so that the two meet.
	submitted := make([]int, n)
	last := make([]string, n)
	for round := range rounds {
		var wg sync.WaitGroup
		var applied atomic.Bool
		errs := make(chan error, n+1)
		wg.Add(n + 1)
		go func() {
			defer wg.Done()
			defer applied.Store(true)
			if err := apply(fmt.Sprintf("Seller %d", round)); err != nil {
				errs <- fmt.Errorf("HR file of round %d: %w", round, err)
			}
		}()
		for i, id := range people {
			go func() {
				defer wg.Done()
				for k := 0; k == 0 || !applied.Load(); k++ {
					phone := fmt.Sprintf("+41 44 %d%02d %02d %02d", k%10, round, i, k/10%100)
					_, err := w.db.Submit(ctx, portal.Viewer{PersonID: id}, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: id,
						Changes: map[string]string{"phone": phone}})
					if err != nil {
						errs <- fmt.Errorf("round %d, person %d: %w", round, i, err)
						return
					}
					submitted[i]++
					last[i] = phone
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
	}

	// Nothing lost: every person has the last round's phone and title;
	// nothing doubled: one request per submission, each applied once.
	for i, id := range people {
		var phone, title string
		var requests, committed int
		require.NoError(t, w.pool.QueryRow(ctx, `SELECT coalesce(phone, ''), coalesce(title, ''),
				(SELECT count(*) FROM requests WHERE person_id = p.id),
				(SELECT count(*) FROM audit_log WHERE action = 'request_committed' AND target_id IN
					(SELECT r.id::text FROM requests r WHERE r.person_id = p.id))
			FROM people p WHERE id = $1`, id).Scan(&phone, &title, &requests, &committed))
		require.Equal(t, last[i], phone)
		require.Equal(t, fmt.Sprintf("Seller %d", rounds-1), title)
		require.Equal(t, submitted[i], requests)
		require.Equal(t, submitted[i], committed)
	}
}
