package workflow

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/tessera-idm/tessera/portal"
)

// ExpireGroupArgs deletes a group when its expiry passes, as a request of
// Tessera's own.
type ExpireGroupArgs struct {
	GroupID string    `json:"group_id"`
	Until   time.Time `json:"until"`
}

// Kind implements river.JobArgs.
func (ExpireGroupArgs) Kind() string { return "expire_group" }

// EndPersonArgs disables a person created by hand when their last day
// ends, as a request of Tessera's own.
type EndPersonArgs struct {
	PersonID string    `json:"person_id"`
	At       time.Time `json:"at"`
}

// Kind implements river.JobArgs.
func (EndPersonArgs) Kind() string { return "end_person" }

type expireGroupWorker struct {
	river.WorkerDefaults[ExpireGroupArgs]
	g portal.GovernanceTimers
}

func (w *expireGroupWorker) Work(ctx context.Context, job *river.Job[ExpireGroupArgs]) error {
	if w.g == nil {
		return nil
	}
	return w.g.ExpireGroup(ctx, job.Args.GroupID, job.Args.Until)
}

type endPersonWorker struct {
	river.WorkerDefaults[EndPersonArgs]
	g portal.GovernanceTimers
}

func (w *endPersonWorker) Work(ctx context.Context, job *river.Job[EndPersonArgs]) error {
	if w.g == nil {
		return nil
	}
	return w.g.EndPerson(ctx, job.Args.PersonID, job.Args.At)
}

// addGovernanceWorkers registers the timers of groups and people created
// by administrators.
func addGovernanceWorkers(workers *river.Workers, d Deps) {
	river.AddWorker(workers, &expireGroupWorker{g: d.Governance})
	river.AddWorker(workers, &endPersonWorker{g: d.Governance})
}
