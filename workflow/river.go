package workflow

import (
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// jobCooldown is the least time between two fetches of one queue's
// producer, and between two of a client's notifications that a queue has
// new jobs. River's default (100 ms) would put up to that between a
// decision and its commit, and again between the commit and its export;
// at a millisecond a job starts within a few of its transaction's commit,
// and a busy queue still fetches its jobs in batches.
const jobCooldown = time.Millisecond

// jobPollInterval is how often a producer looks for jobs without being
// told: the backstop for a notification River left out (it sends at most
// one per jobCooldown) and for scheduled jobs coming due.
const jobPollInterval = 250 * time.Millisecond

// NoticeQueue is the queue of the mails that tell a person what was done
// to their password (PasswordNoticeArgs). A notice need not start within a
// millisecond of its commit as an export does, so this queue's producer
// fetches at most every noticeCooldown and takes the notices that came
// meanwhile in one batch: during many resets at once, one fetch for a few
// notices rather than one for each, which the database and the directory
// on the same cores feel.
const NoticeQueue = "notices"

// noticeCooldown and noticePollInterval are NoticeQueue's pace: River's
// defaults. A notice arrives within a tenth of a second of the reset.
const (
	noticeCooldown     = 100 * time.Millisecond
	noticePollInterval = time.Second
	noticeWorkers      = 10
)

// InsertOnlyConfig is the River configuration of a client that only
// inserts jobs (a web-only process, a command): its inserts notify the
// workers at once, as the workers' own do.
func InsertOnlyConfig(logger *slog.Logger) *river.Config {
	return &river.Config{Logger: logger, FetchCooldown: jobCooldown}
}

// RiverConfig is the one River configuration Tessera runs its workers
// with. Workers LISTEN for River's insert notifications, which every
// client sends in the transaction that inserts a job (so they arrive when
// it commits, in every process): an export job starts within
// milliseconds of the decision that committed its requests. Polling stays as the backstop. LISTEN needs a session of its
// own, so DATABASE_URL must not point at a transaction-pooling proxy.
func RiverConfig(workers *river.Workers, logger *slog.Logger) *river.Config {
	return &river.Config{
		Logger:  logger,
		Workers: workers,
		Queues: map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 50},
			NoticeQueue: {MaxWorkers: noticeWorkers, FetchCooldown: noticeCooldown, FetchPollInterval: noticePollInterval}},
		FetchPollInterval: jobPollInterval,
		FetchCooldown:     jobCooldown,
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
			// Approvals' first timers (reminders, deadlines of hours or
			// days) fire within the minute they are due, and at start
			// those that came due while no worker ran. Two sweeps at once
			// fire each timer once (see DB.FireTimers), so one retrying a
			// failed timer holds back none of the next.
			river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
				func() (river.JobArgs, *river.InsertOpts) { return ApprovalTimersArgs{}, nil },
				&river.PeriodicJobOpts{RunOnStart: true}),
			// A file dropped in an HR source's folder is taken within
			// two seconds: joiners reach AD without waiting for a cycle.
			river.NewPeriodicJob(river.PeriodicInterval(2*time.Second),
				func() (river.JobArgs, *river.InsertOpts) {
					// One look at a time: a large file takes longer than
					// the interval, and must be received once.
					return HRWatchArgs{}, &river.InsertOpts{UniqueOpts: oneAtATime}
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
