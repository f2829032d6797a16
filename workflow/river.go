package workflow

import (
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// RiverConfig is the one River configuration Tessera runs its workers
// with. Producers poll (no LISTEN/NOTIFY): at this rate a change waits at
// most a tenth of a second for its next step, notifications cost nothing
// per insert, and the client works through connection poolers.
func RiverConfig(workers *river.Workers, logger *slog.Logger) *river.Config {
	return &river.Config{
		Logger:            logger,
		Workers:           workers,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 50}},
		PollOnly:          true,
		FetchPollInterval: 100 * time.Millisecond,
		FetchCooldown:     25 * time.Millisecond,
		// The leader removes expired sessions every hour, looks for
		// connected systems whose delta cycle is due every 10 seconds, and
		// for the jobs of dead worker processes every few seconds.
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
			func() (river.JobArgs, *river.InsertOpts) { return HousekeepingArgs{}, nil },
			&river.PeriodicJobOpts{RunOnStart: true}),
			// Only the leader runs periodic jobs, so several workers write
			// one checkpoint an hour between them (and one at start).
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
				func() (river.JobArgs, *river.InsertOpts) { return AuditCheckpointArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(10*time.Second),
				func() (river.JobArgs, *river.InsertOpts) { return SyncScheduleArgs{}, nil }, nil),
			// A file dropped in an HR source's folder is taken within
			// two seconds: joiners reach AD without waiting for a cycle.
			river.NewPeriodicJob(river.PeriodicInterval(2*time.Second),
				func() (river.JobArgs, *river.InsertOpts) {
					// One look at a time: a large file takes longer than
					// the interval, and must be received once.
					return HRWatchArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
						rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
						rivertype.JobStateRetryable, rivertype.JobStateScheduled}}}
				}, nil),
			// Password expiry reminders, once a day (and at start, so
			// that a restart does not skip a day).
			river.NewPeriodicJob(river.PeriodicInterval(24*time.Hour),
				func() (river.JobArgs, *river.InsertOpts) { return PasswordExpiryArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			// Repeating access reviews start within the hour they are due.
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
				func() (river.JobArgs, *river.InsertOpts) { return ReviewScheduleArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(rescueInterval),
				func() (river.JobArgs, *river.InsertOpts) { return RescueOrphansArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true})},
	}
}
