package hr

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// Service receives HR files and bulk requests, previews them, and applies
// them through the sync engine.
type Service struct {
	Pool   *pgxpool.Pool
	Engine *syncsvc.Engine
	// Queue inserts, in tx, the River job that applies upload id
	// (workflow.HRApplyQueue makes one).
	Queue func(ctx context.Context, tx pgx.Tx, id int64) error
	// Schedule inserts, in tx, the River job that calls HRDateDue for a
	// row at a given instant (workflow.HRDateQueue makes one); nil: dates
	// take effect with the next file only.
	Schedule func(ctx context.Context, tx pgx.Tx, systemID, anchor string, at time.Time) error
	// Notify inserts, in tx, the River job that mails team notice id to
	// manager to (workflow.HRNoticeQueue makes one); nil: the notices are
	// only shown on the managers' home pages.
	Notify func(ctx context.Context, tx pgx.Tx, id int64, to string) error
	// Now is the clock; nil: time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

var _ portal.HRInbound = (*Service)(nil)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Upload statuses.
const (
	StatusPreviewed = "previewed" // shown, waiting for "Apply"
	StatusWaiting   = "waiting"   // over the leaver threshold, waiting for "Confirm"
	StatusQueued    = "queued"    // its job applies it
	StatusApplied   = "applied"
	StatusFailed    = "failed"
	StatusDiscarded = "discarded"
)

// Upload is one HR file or bulk request as received, with its preview.
type Upload struct {
	ID         int64
	SystemID   string
	SystemName string
	Source     string // folder, upload, cli, scim
	Filename   string
	ReceivedAt time.Time
	Status     string
	Rows       int
	Joiners    int
	Movers     int
	Leavers    int
	Refusals   []Refusal
	// Message says why the file stopped or failed, in English (the log's
	// and the command line's); MessageText is the same in a reader's
	// language.
	Message     string
	MessageText portal.Text
	RunID       *int64
	AppliedAt   *time.Time
}

// Incoming is a file (or bulk request) to receive.
type Incoming struct {
	SystemID string
	Source   string // folder, upload, cli, scim
	Filename string
	Content  []byte
	// Apply queues it at once unless it crosses the leaver threshold;
	// otherwise it waits, previewed, for "Apply".
	Apply bool
}

// Receive reads, checks and previews a file and stores it with its
// preview; with in.Apply it queues its application in the same
// transaction, unless it lacks too many rows. Only administrators (and
// the command line and watched folder, as the system) send files.
func (s *Service) Receive(ctx context.Context, v portal.Viewer, in Incoming) (*Upload, error) {
	if in.Source == "upload" && !v.Has(portal.RoleAdmin) {
		return nil, portal.Errorf(portal.EFORBIDDEN, "Only administrators upload HR files.")
	}
	set, name, err := s.Settings(ctx, in.SystemID)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(in.Content)
	var by any
	if v.PersonID != "" {
		by = v.PersonID
	}
	filename := []rune(in.Filename)
	if len(filename) > 255 {
		filename = filename[:255]
	}
	var id int64
	// The preview stages what applying the file imports, and the upload
	// keeps it with the space's version (see stagedFor): an application
	// with nothing imported in between takes it as it is.
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		// Read first: an import that commits after it changes the version.
		var version int64
		if err := tx.QueryRow(ctx, "SELECT space_version FROM hr_sources WHERE system_id = $1", in.SystemID).Scan(&version); err != nil {
			return err
		}
		if err := syncsvc.BulkTx(ctx, tx); err != nil {
			return err
		}
		// The upload first, for the comparison to stage its objects with
		// it (not in a temporary table, copied after); its preview once
		// the comparison made it.
		if err := tx.QueryRow(ctx, `INSERT INTO hr_uploads (system_id, source, filename, content, sha256, received_by, status,
				staged_version, staged_day) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			in.SystemID, in.Source, string(filename), in.Content, sum[:], by, StatusPreviewed, version, s.today(set)).Scan(&id); err != nil {
			return err
		}
		plan, err := s.stagePlan(ctx, tx, set, in.Source, in.Content, staging{stage: true, upload: id})
		if err != nil {
			return err
		}
		status := StatusPreviewed
		var message portal.Text
		switch {
		case in.Apply && plan.OverThreshold(set.LeaverThreshold):
			status = StatusWaiting
			message = portal.Textf("Stopped before applying anything: %d of the %d people HR had are missing from this file or leaving (the threshold is %d %%). Check the file, then confirm it to apply it.",
				len(plan.Leavers), plan.ActiveBefore, set.LeaverThreshold)
		case in.Apply:
			status = StatusQueued
		}
		refusals, _ := json.Marshal(syncsvc.NonNil(plan.Refused))
		if _, err := tx.Exec(ctx, `UPDATE hr_uploads SET status = $2, row_count = $3, joiners = $4, movers = $5, leavers = $6,
				refusals = $7, message = $8, message_text = $9, staged_checks = $10 WHERE id = $1`,
			id, status, plan.Rows, len(plan.Joiners), len(plan.Movers), len(plan.Leavers), refusals, message.String(), message.Stored(),
			plan.checks); err != nil {
			return err
		}
		details := map[string]any{"system": name, "source": in.Source, "file": string(filename), "rows": plan.Rows,
			"joiners": len(plan.Joiners), "movers": len(plan.Movers), "leavers": len(plan.Leavers), "refused": len(plan.Refused), "status": status}
		if _, err := tx.Exec(ctx, "SELECT audit_append($1, 'hr_file_received', 'connected_system', $2, $3)", by, in.SystemID, details); err != nil {
			return err
		}
		if status == StatusQueued {
			return s.Queue(ctx, tx, id)
		}
		return nil
	})
	if err != nil {
		if portal.ErrorCode(err) != portal.EINTERNAL {
			return nil, err
		}
		return nil, fmt.Errorf("hr: receive file: %w", err)
	}
	return s.Upload(ctx, id)
}

// today is the organisation's date now, which decides who is active.
func (s *Service) today(set Settings) time.Time {
	return dayOf(s.now(), s.location(set))
}

// preview is the plan of content against the HR connector space as it
// is now, computed as its application computes it, in a transaction that
// is rolled back.
func (s *Service) preview(ctx context.Context, set Settings, source string, content []byte) (*Plan, error) {
	tx, err := s.Pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("hr: preview: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a preview changes nothing
	if err := syncsvc.PrepareImport(ctx, tx); err != nil {
		return nil, err
	}
	return s.stagePlan(ctx, tx, set, source, content, staging{})
}

// Preview returns the plan of an upload against the connector space as
// it is now: the joiners, movers and leavers by employee ID.
func (s *Service) Preview(ctx context.Context, id int64) (*Plan, error) {
	u, content, err := s.upload(ctx, id)
	if err != nil {
		return nil, err
	}
	set, _, err := s.Settings(ctx, u.SystemID)
	if err != nil {
		return nil, err
	}
	return s.preview(ctx, set, u.Source, content)
}

// Confirm queues an upload that waits for an administrator: one that
// was previewed, or stopped at the leaver threshold.
func (s *Service) Confirm(ctx context.Context, v portal.Viewer, id int64) error {
	return s.decide(ctx, v, id, StatusQueued, "hr_file_confirmed")
}

// Discard drops an upload that waits, unapplied.
func (s *Service) Discard(ctx context.Context, v portal.Viewer, id int64) error {
	return s.decide(ctx, v, id, StatusDiscarded, "hr_file_discarded")
}

func (s *Service) decide(ctx context.Context, v portal.Viewer, id int64, to, action string) error {
	if !v.Has(portal.RoleAdmin) {
		return portal.Errorf(portal.EFORBIDDEN, "Only administrators apply or discard HR files.")
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var system string
		err := tx.QueryRow(ctx, `UPDATE hr_uploads SET status = $2 WHERE id = $1 AND status IN ('previewed', 'waiting')
			RETURNING system_id::text`, id, to).Scan(&system)
		if errors.Is(err, pgx.ErrNoRows) {
			return portal.Errorf(portal.ECONFLICT, "This file is not waiting any more: it was applied or discarded already.")
		} else if err != nil {
			return err
		}
		var actor any
		if v.PersonID != "" {
			actor = v.PersonID
		}
		if _, err := tx.Exec(ctx, "SELECT audit_append($1, $2, 'connected_system', $3, $4)", actor, action, system,
			map[string]any{"upload": id}); err != nil {
			return err
		}
		if to == StatusQueued {
			return s.Queue(ctx, tx, id)
		}
		_, err = tx.Exec(ctx, "DELETE FROM hr_upload_objects WHERE upload_id = $1", id)
		return err
	})
	if portal.ErrorCode(err) != portal.EINTERNAL {
		return err
	}
	return fmt.Errorf("hr: %s upload %d: %w", to, id, err)
}

// ApplyHRUpload applies a queued upload: an import of what it changes
// into the HR connector space, a sync of the HR system, and the export of
// the people it changed to every other system. An upload not queued is
// left as it is.
func (s *Service) ApplyHRUpload(ctx context.Context, id int64) error {
	// The file itself is read only when it is compared again: a preview's
	// staging taken as it is needs none of it.
	u, err := s.Upload(ctx, id)
	if portal.ErrorCode(err) == portal.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if u.Status != StatusQueued {
		// Applied already: what a failed attempt left undelivered or
		// unexported goes now.
		if err := s.deliverNotices(ctx); err != nil {
			return err
		}
		if u.Status != StatusApplied {
			return nil
		}
		var people []string
		if err := s.Pool.QueryRow(ctx, "SELECT export_people::text[] FROM hr_uploads WHERE id = $1", id).Scan(&people); err != nil {
			return fmt.Errorf("hr: upload %d: %w", id, err)
		}
		return s.export(ctx, id, u.SystemID, people)
	}
	set, _, err := s.Settings(ctx, u.SystemID)
	if err != nil {
		return err
	}
	var plan *Plan
	var changed []syncsvc.ImportedObject
	run, people, err := s.Engine.ImportStaged(ctx, u.SystemID, "hr", watermark, func(ctx context.Context, tx pgx.Tx) error {
		kept, err := s.stagedFor(ctx, tx, set, id)
		if err != nil {
			return err
		}
		if !kept {
			// Something was imported since the preview (or the day or
			// the settings changed): the file is compared again, as the
			// space is now.
			var content []byte
			if err := tx.QueryRow(ctx, "SELECT content FROM hr_uploads WHERE id = $1", id).Scan(&content); err != nil {
				return fmt.Errorf("hr: upload %d: %w", id, err)
			}
			if plan, err = s.stagePlan(ctx, tx, set, u.Source, content, staging{stage: true}); err != nil {
				return err
			}
		}
		if changed, err = s.datedObjects(ctx, tx, set); err != nil {
			return err
		}
		return teamChanges(ctx, tx, u.SystemID)
	})
	var runID *int64
	if run != nil {
		runID = &run.ID
	}
	if err != nil {
		if portal.Retryable(err) || errors.Is(err, syncsvc.ErrBusy) {
			return fmt.Errorf("%w: %w", portal.ErrTemporary, err)
		}
		return s.finish(ctx, id, StatusFailed, runID, portal.ReasonOr(err), plan)
	}
	if err := s.finish(ctx, id, StatusApplied, runID, portal.Text{}, plan); err != nil {
		return err
	}
	// Kept until the other systems took them (export clears them): a retry
	// finds the upload applied and exports them then.
	if _, err := s.Pool.Exec(ctx, "UPDATE hr_uploads SET export_people = $2::text[]::uuid[] WHERE id = $1", id, syncsvc.NonNil(people)); err != nil {
		return fmt.Errorf("hr: record upload %d: %w", id, err)
	}
	if err := s.scheduleDates(ctx, set, changed); err != nil {
		return fmt.Errorf("hr: date timers: %w", err)
	}
	if err := s.deliverNotices(ctx); err != nil {
		return err
	}
	// The HR side is done; the other systems take the change now, and a
	// retry of this job (an AD that does not answer) exports it again.
	return s.export(ctx, id, u.SystemID, people)
}

// export carries an applied upload's people to every other system and,
// once they took them, forgets them. The upload keeps the runs, for its
// page to say what the other systems could not take (an account AD's
// rule cannot name).
func (s *Service) export(ctx context.Context, id int64, systemID string, people []string) error {
	runs, err := s.Engine.ExportPeople(ctx, systemID, people)
	if err == nil && len(people) > 0 {
		if _, err := s.Pool.Exec(ctx, "UPDATE hr_uploads SET export_people = '{}' WHERE id = $1", id); err != nil {
			return fmt.Errorf("hr: record upload %d: %w", id, err)
		}
	}
	if len(runs) > 0 {
		ids := make([]int64, len(runs))
		for i, r := range runs {
			ids[i] = r.ID
		}
		if _, rerr := s.Pool.Exec(ctx, "UPDATE hr_uploads SET export_runs = export_runs || $2::bigint[] WHERE id = $1", id, ids); rerr != nil {
			return errors.Join(err, fmt.Errorf("hr: record the exports of upload %d: %w", id, rerr))
		}
	}
	return err
}

// Export is a run that carried an upload's people to another system,
// with the objects it could not (the first few).
type Export struct {
	Run    syncsvc.Run
	Errors []syncsvc.RunObject
}

// exportErrorsShown is how many objects an upload's page lists per run
// that failed for them; the run's page has them all.
const exportErrorsShown = 20

// Exports returns the runs that carried upload id's people to the other
// systems, oldest first, with their errors.
func (s *Service) Exports(ctx context.Context, id int64) ([]Export, error) {
	var ids []int64
	if err := s.Pool.QueryRow(ctx, "SELECT export_runs FROM hr_uploads WHERE id = $1", id).Scan(&ids); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, portal.Errorf(portal.ENOTFOUND, "There is no such HR file.")
		}
		return nil, fmt.Errorf("hr: exports: %w", err)
	}
	var out []Export
	for _, rid := range ids {
		run, err := s.Engine.FindRun(ctx, rid)
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			continue // past run history's days
		} else if err != nil {
			return nil, err
		}
		x := Export{Run: *run}
		if run.Counts.Errors > 0 {
			if x.Errors, err = s.Engine.RunObjects(ctx, rid, "error", exportErrorsShown); err != nil {
				return nil, err
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// stagedFor moves the objects upload id's preview staged into
// syncsvc.ImportObjects, in tx, the import's transaction, when what the
// preview was made from still holds: the HR connector space as it saw it
// (no import since, the same settings), the same day, the same limits and
// attribute definitions, and none of the account names it gave joiners
// taken since by someone else (by hand, say); it reports whether it did.
// Either way the import makes a new version of the space.
func (s *Service) stagedFor(ctx context.Context, tx pgx.Tx, set Settings, id int64) (bool, error) {
	// Locked: an import into the space waits for this one to commit.
	var version int64
	if err := tx.QueryRow(ctx, "UPDATE hr_sources SET space_version = space_version + 1 WHERE system_id = $1 RETURNING space_version - 1",
		set.SystemID).Scan(&version); err != nil {
		return false, fmt.Errorf("hr: space version: %w", err)
	}
	lim, err := loadLimits(ctx, tx, set.SystemID)
	if err != nil {
		return false, err
	}
	schema, err := syncsvc.SchemaIn(ctx, tx)
	if err != nil {
		return false, err
	}
	checks, err := checksDigest(lim, schema)
	if err != nil {
		return false, err
	}
	// A name is taken when a person other than the row's employee has it;
	// only rows not joined to a person yet are projected with theirs.
	var kept bool
	if err := tx.QueryRow(ctx, `SELECT u.staged_version IS NOT DISTINCT FROM $2 AND u.staged_day IS NOT DISTINCT FROM $3
			AND u.staged_checks IS NOT DISTINCT FROM $4
			AND NOT EXISTS (SELECT 1 FROM hr_upload_objects o JOIN people p ON lower(p.account_name) = lower(o.attrs->'accountname'->>0)
				WHERE o.upload_id = u.id AND lower(coalesce(p.employee_id, '')) <> lower(coalesce(o.attrs->'employeeid'->>0, ''))
					AND NOT EXISTS (SELECT 1 FROM cs_objects c WHERE c.system_id = u.system_id AND c.anchor = o.anchor AND c.person_id IS NOT NULL))
		FROM hr_uploads u WHERE u.id = $1`,
		id, version, s.today(set), checks).Scan(&kept); err != nil {
		return false, fmt.Errorf("hr: staged preview: %w", err)
	}
	if kept {
		if _, err := tx.Exec(ctx, `INSERT INTO `+syncsvc.ImportObjects+` (anchor, attrs, digest)
			SELECT anchor, attrs, digest FROM hr_upload_objects WHERE upload_id = $1`, id); err != nil {
			return false, fmt.Errorf("hr: staged preview: %w", err)
		}
	}
	if _, err := tx.Exec(ctx, "DELETE FROM hr_upload_objects WHERE upload_id = $1", id); err != nil {
		return false, fmt.Errorf("hr: staged preview: %w", err)
	}
	return kept, nil
}

// finish records what became of upload id; plan is its comparison when
// it was compared again (nil: its preview holds).
func (s *Service) finish(ctx context.Context, id int64, status string, runID *int64, message portal.Text, plan *Plan) error {
	// Whatever happened, its staged objects are of no more use. An
	// applied upload's import deleted them (stagedFor), and committed: a
	// second DELETE walked the 100,000 index entries of the dead rows of
	// a first file for nothing (0.15 s).
	if status != StatusApplied {
		if _, err := s.Pool.Exec(ctx, "DELETE FROM hr_upload_objects WHERE upload_id = $1", id); err != nil {
			return fmt.Errorf("hr: record upload %d: %w", id, err)
		}
	}
	var err error
	if plan != nil {
		refusals, _ := json.Marshal(syncsvc.NonNil(plan.Refused))
		_, err = s.Pool.Exec(ctx, `UPDATE hr_uploads SET status = $2, run_id = $3, message = $4, message_text = $10, applied_at = now(), row_count = $5,
			joiners = $6, movers = $7, leavers = $8, refusals = $9 WHERE id = $1`, id, status, runID, message.String(), plan.Rows,
			len(plan.Joiners), len(plan.Movers), len(plan.Leavers), refusals, message.Stored())
	} else {
		_, err = s.Pool.Exec(ctx, `UPDATE hr_uploads SET status = $2, run_id = $3, message = $4, message_text = $5, applied_at = now() WHERE id = $1`,
			id, status, runID, message.String(), message.Stored())
	}
	if err != nil {
		return fmt.Errorf("hr: record upload %d: %w", id, err)
	}
	return nil
}

const uploadSelect = `SELECT u.id, u.system_id::text, s.name, u.source, u.filename, u.received_at, u.status, u.row_count, u.joiners,
	u.movers, u.leavers, u.refusals, u.message, u.message_text, u.run_id, u.applied_at FROM hr_uploads u JOIN connected_systems s ON s.id = u.system_id`

func scanUpload(row pgx.Row) (*Upload, error) {
	u := &Upload{}
	var refusals, message []byte
	if err := row.Scan(&u.ID, &u.SystemID, &u.SystemName, &u.Source, &u.Filename, &u.ReceivedAt, &u.Status, &u.Rows, &u.Joiners,
		&u.Movers, &u.Leavers, &refusals, &u.Message, &message, &u.RunID, &u.AppliedAt); err != nil {
		return nil, err
	}
	var err error
	if u.MessageText, err = portal.ReadStored(message, u.Message, nil); err != nil {
		return nil, err
	}
	return u, json.Unmarshal(refusals, &u.Refusals)
}

// Upload returns one upload with its preview.
func (s *Service) Upload(ctx context.Context, id int64) (*Upload, error) {
	u, err := scanUpload(s.Pool.QueryRow(ctx, uploadSelect+" WHERE u.id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such HR file.")
	} else if err != nil {
		return nil, fmt.Errorf("hr: upload: %w", err)
	}
	return u, nil
}

func (s *Service) upload(ctx context.Context, id int64) (*Upload, []byte, error) {
	u, err := s.Upload(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var content []byte
	if err := s.Pool.QueryRow(ctx, "SELECT content FROM hr_uploads WHERE id = $1", id).Scan(&content); err != nil {
		return nil, nil, fmt.Errorf("hr: upload: %w", err)
	}
	return u, content, nil
}

// Uploads returns the latest uploads of a system, newest first.
func (s *Service) Uploads(ctx context.Context, systemID string, limit int) ([]Upload, error) {
	rows, err := s.Pool.Query(ctx, uploadSelect+" WHERE u.system_id = $1 ORDER BY u.id DESC LIMIT $2", systemID, limit)
	if err != nil {
		return nil, fmt.Errorf("hr: uploads: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Upload, error) {
		u, err := scanUpload(row)
		if err != nil {
			return Upload{}, err
		}
		return *u, nil
	})
}
