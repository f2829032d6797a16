package hr

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// errReadOnly refuses what an HR source cannot do: Tessera never writes
// to HR.
var errReadOnly = portal.Errorf(portal.EINVALID, "An HR source is read-only: Tessera takes its people and never writes to it.")

// watermark is the HR system's delta import cookie: a file says what
// changed by itself, so there is nothing to continue from.
var watermark = []byte("hr")

// planConnector reports a plan as imports: a full import gives every row,
// a delta import none (files change the space, not runs).
type planConnector struct{ plan *Plan }

func (c *planConnector) FullImport(ctx context.Context, fn func(syncsvc.ImportedObject) error) error {
	for _, o := range c.plan.unchanged {
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (c *planConnector) DeltaImport(ctx context.Context, w []byte, fn func(syncsvc.ImportedObject) error) ([]byte, error) {
	return watermark, nil // a full import starts, or nothing changed since the last file
}

func (c *planConnector) Export(ctx context.Context, changes []syncsvc.ExportChange) []syncsvc.ExportResult {
	out := make([]syncsvc.ExportResult, len(changes))
	for i, ch := range changes {
		out[i] = syncsvc.ExportResult{DN: ch.DN, Err: errReadOnly}
	}
	return out
}

func (c *planConnector) Read(ctx context.Context, anchor, dn string) (syncsvc.ImportedObject, error) {
	for _, o := range c.plan.unchanged {
		if strings.EqualFold(o.Anchor, anchor) || anchor == "" && strings.EqualFold(o.DN, dn) {
			return o, nil
		}
	}
	return syncsvc.ImportedObject{}, fmt.Errorf("hr: %s%s: %w", anchor, dn, syncsvc.ErrNoSuchObject)
}

func (c *planConnector) SetPassword(context.Context, string, string) error { return errReadOnly }
func (c *planConnector) SetEnabled(context.Context, string, bool) error    { return errReadOnly }
func (c *planConnector) Unlock(context.Context, string) (bool, error)      { return false, errReadOnly }
func (c *planConnector) Close() error                                      { return nil }

// Opener opens an HR system for the run profiles an administrator starts
// from the sync pages: its connector space is what the last file made
// it, so a full import reads it back unchanged and a delta import finds
// nothing new. Files change it.
func Opener(pool *pgxpool.Pool) syncsvc.Opener {
	return func(ctx context.Context, sys portal.ConnectedSystem) (syncsvc.Connector, error) {
		if sys.Type != portal.SystemHR {
			return nil, fmt.Errorf("hr: %s is not an HR source", sys.Name)
		}
		rows, err := pool.Query(ctx, `SELECT anchor, attributes FROM cs_objects WHERE system_id = $1 AND anchor IS NOT NULL`, sys.ID)
		if err != nil {
			return nil, fmt.Errorf("hr: connector space: %w", err)
		}
		defer rows.Close()
		p := &Plan{}
		for rows.Next() {
			var anchor string
			var raw []byte
			if err := rows.Scan(&anchor, &raw); err != nil {
				return nil, err
			}
			var attrs map[string][]string
			if err := json.Unmarshal(raw, &attrs); err != nil {
				return nil, err
			}
			p.unchanged = append(p.unchanged, syncsvc.ImportedObject{Anchor: anchor, DN: anchor, Class: syncsvc.ObjectUser, Attributes: attrs})
		}
		return &planConnector{plan: p}, rows.Err()
	}
}
