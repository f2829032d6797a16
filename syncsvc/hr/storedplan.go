package hr

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/syncsvc"
)

// A file's preview compares every row with the HR connector space, which
// for 100,000 rows costs more than applying the 100 that changed. The
// preview is kept with the upload, with the import run that last changed
// the space; applying the upload takes it as it is when no import ran
// since, on the same day, with the same settings, soon after. Otherwise
// the file is compared again, as the space now is.

// storedPlanAge bounds how old a kept preview may be: the attribute schema
// and the other systems' limits it checked rows against may change too.
const storedPlanAge = 15 * time.Minute

// storedPlan is a plan as an upload keeps it: only what a delta import
// reports (the changed rows), so only for a system that has imported
// before.
type storedPlan struct {
	Day          string         `json:"day"`      // the organisation's date the plan was made on
	Settings     string         `json:"settings"` // the settings it was made with, as JSON
	Rows         int            `json:"rows"`
	ActiveBefore int            `json:"active_before"`
	Joiners      []string       `json:"joiners"`
	Movers       []string       `json:"movers"`
	Leavers      []string       `json:"leavers"`
	Refused      []Refusal      `json:"refused"`
	Changed      []storedObject `json:"changed"`
}

type storedObject struct {
	Anchor string              `json:"anchor"`
	Attrs  map[string][]string `json:"attrs"`
}

// spaceRun returns the HR system's last import run, and whether the
// connector space is settled: no import is running, and one has run (a
// first import reports every row, which a kept plan does not hold).
func spaceRun(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, systemID string) (int64, bool, error) {
	var id int64
	var running bool
	var watermark bool
	err := q.QueryRow(ctx, `SELECT coalesce(max(r.id), 0), coalesce(bool_or(r.status = 'running'), false),
			(SELECT coalesce(length(watermark), 0) > 0 FROM connected_systems WHERE id = $1)
		FROM sync_runs r WHERE r.system_id = $1 AND r.profile IN ('full_import', 'delta_import')`, systemID).Scan(&id, &running, &watermark)
	if err != nil {
		return 0, false, fmt.Errorf("hr: import runs: %w", err)
	}
	// Without a watermark the next import is a full one, which reports
	// every row.
	return id, id > 0 && !running && watermark, nil
}

// planDay is the organisation's date at now, which decides who is active.
func planDay(set Settings, now time.Time) string {
	loc, err := time.LoadLocation(set.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	return now.In(loc).Format(time.DateOnly)
}

func settingsKey(set Settings) string {
	b, _ := json.Marshal(settingsDetails(set))
	return string(b)
}

// keep makes the plan an upload keeps.
func keep(p *Plan, set Settings, now time.Time) ([]byte, error) {
	sp := storedPlan{Day: planDay(set, now), Settings: settingsKey(set), Rows: p.Rows, ActiveBefore: p.ActiveBefore,
		Joiners: p.Joiners, Movers: p.Movers, Leavers: p.Leavers, Refused: p.Refused}
	for _, o := range p.changed {
		sp.Changed = append(sp.Changed, storedObject{Anchor: o.Anchor, Attrs: o.Attributes})
	}
	return json.Marshal(sp)
}

// keptPlan returns the plan upload id kept, if it still holds: nil when
// the file must be compared again.
func (s *Service) keptPlan(ctx context.Context, id int64, set Settings) (*Plan, error) {
	var raw []byte
	var run *int64
	var received time.Time
	if err := s.Pool.QueryRow(ctx, "SELECT plan, space_run, received_at FROM hr_uploads WHERE id = $1", id).Scan(&raw, &run, &received); err != nil {
		return nil, fmt.Errorf("hr: kept preview: %w", err)
	}
	if raw == nil || run == nil || s.now().Sub(received) > storedPlanAge {
		return nil, nil
	}
	now, settled, err := spaceRun(ctx, s.Pool, set.SystemID)
	if err != nil || !settled || now != *run {
		return nil, err
	}
	var sp storedPlan
	if err := json.Unmarshal(raw, &sp); err != nil {
		return nil, fmt.Errorf("hr: kept preview: %w", err)
	}
	if sp.Day != planDay(set, s.now()) || sp.Settings != settingsKey(set) {
		return nil, nil
	}
	p := &Plan{Rows: sp.Rows, ActiveBefore: sp.ActiveBefore, Joiners: sp.Joiners, Movers: sp.Movers, Leavers: sp.Leavers, Refused: sp.Refused}
	for _, o := range sp.Changed {
		p.changed = append(p.changed, syncsvc.ImportedObject{Anchor: o.Anchor, DN: o.Anchor, Class: syncsvc.ObjectUser, Attributes: o.Attrs})
	}
	return p, nil
}
