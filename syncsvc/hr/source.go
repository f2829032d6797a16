package hr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// Source is an HR connected system with its settings.
type Source struct {
	ID, Name string
	Settings Settings
}

// DefaultRule is the HR system's user sync rule: rows join people on the
// employee ID, rows that join nobody are projected as new people, and HR
// is authoritative (precedence 10, ahead of AD's 100) for names, job,
// department, manager and account status (from the dates); contact
// details flow in only where no other system gave them.
func DefaultRule(systemID string) syncsvc.SyncRule {
	flow := func(mv, cs string, prec int) syncsvc.InboundFlow {
		return syncsvc.InboundFlow{MV: mv, Expr: "cs." + cs, Precedence: prec}
	}
	return syncsvc.SyncRule{
		SystemID: systemID, Class: syncsvc.ObjectUser,
		JoinRules:  []syncsvc.JoinRule{{CS: "employeeId", MV: "employeeId"}},
		Projection: true,
		Inbound: []syncsvc.InboundFlow{
			flow("givenName", "givenName", 10), flow("surname", "surname", 10), flow("displayName", "displayName", 10),
			flow("title", "title", 10), flow("department", "department", 10), flow("managerId", "manager", 10),
			flow("enabled", "active", 10),
			flow("email", "email", 200), flow("office", "office", 200), flow("phone", "phone", 200), flow("mobile", "mobile", 200),
		},
		Deprovision: syncsvc.DeprovisionNone,
	}
}

// CreateSource adds an HR connected system with its settings and its
// default sync rule.
func (s *Service) CreateSource(ctx context.Context, v portal.Viewer, name string, set Settings) (string, error) {
	if !v.Has(portal.RoleAdmin) {
		return "", portal.Errorf(portal.EFORBIDDEN, "Only administrators add connected systems.")
	}
	sys := portal.ConnectedSystem{Name: name, Type: portal.SystemHR, Enabled: true}
	if err := sys.Validate(); err != nil {
		return "", err
	}
	schema, err := s.Engine.Schema(ctx)
	if err != nil {
		return "", err
	}
	set.SystemID = "x" // validated before the system exists
	if err := set.Validate(schema); err != nil {
		return "", err
	}
	var id string
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO connected_systems (name, type, hosts, port, tls_mode, bind_user, base_dn, delta_interval)
			VALUES ($1, $2, '{}', 0, '', '', '', 0) RETURNING id`, sys.Name, string(portal.SystemHR)).Scan(&id)
		if err != nil {
			if strings.Contains(err.Error(), "connected_systems_name_key") {
				return portal.Errorf(portal.ECONFLICT, "A connected system is called %q already.", sys.Name)
			}
			return err
		}
		set.SystemID = id
		if err := saveSettings(ctx, tx, set); err != nil {
			return err
		}
		var actor any
		if v.PersonID != "" {
			actor = v.PersonID
		}
		_, err = tx.Exec(ctx, "SELECT audit_append($1, 'connected_system_create', 'connected_system', $2, $3)", actor, id,
			map[string]any{"name": sys.Name, "type": string(portal.SystemHR), "settings": settingsDetails(set)})
		return err
	})
	if err != nil {
		if portal.ErrorCode(err) != portal.EINTERNAL {
			return "", err
		}
		return "", fmt.Errorf("hr: create source: %w", err)
	}
	rule := DefaultRule(id)
	addExtraFlows(&rule, set, schema)
	return id, s.Engine.SaveSyncRule(ctx, v, rule)
}

// addExtraFlows gives rule, an HR user rule, an inbound flow for each
// extra attribute the settings map a column to and the rule does not set
// yet: mapping a column is how an administrator says HR gives it, and HR
// is authoritative for what it gives (precedence 10). A flow already
// there (an administrator may have changed it) is left as it is.
func addExtraFlows(rule *syncsvc.SyncRule, set Settings, schema *portal.Schema) bool {
	added := false
	for _, a := range ExtraFields(schema) {
		if set.Columns[a.Name] == "" || slices.ContainsFunc(rule.Inbound, func(f syncsvc.InboundFlow) bool { return f.MV == a.Name }) {
			continue
		}
		rule.Inbound = append(rule.Inbound, syncsvc.InboundFlow{MV: a.Name, Expr: "cs." + a.Name, Precedence: 10})
		added = true
	}
	return added
}

// SaveSettings replaces an HR system's settings.
func (s *Service) SaveSettings(ctx context.Context, v portal.Viewer, set Settings) error {
	if !v.Has(portal.RoleAdmin) {
		return portal.Errorf(portal.EFORBIDDEN, "Only administrators change connected systems.")
	}
	schema, err := s.Engine.Schema(ctx)
	if err != nil {
		return err
	}
	if err := set.Validate(schema); err != nil {
		return err
	}
	before, _, err := s.Settings(ctx, set.SystemID)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if err := saveSettings(ctx, tx, set); err != nil {
			return err
		}
		var actor any
		if v.PersonID != "" {
			actor = v.PersonID
		}
		_, err := tx.Exec(ctx, "SELECT audit_append($1, 'hr_settings_update', 'connected_system', $2, $3)", actor, set.SystemID,
			map[string]any{"settings": settingsDetails(set), "before": settingsDetails(before)})
		return err
	})
	if err != nil {
		return fmt.Errorf("hr: save settings: %w", err)
	}
	rules, err := s.Engine.SyncRules(ctx, set.SystemID)
	if err != nil {
		return err
	}
	for _, r := range rules {
		if r.Class == syncsvc.ObjectUser && addExtraFlows(&r, set, schema) {
			if err := s.Engine.SaveSyncRule(ctx, v, r); err != nil {
				return err
			}
		}
	}
	return nil
}

func settingsDetails(s Settings) map[string]any {
	return map[string]any{"folder": s.Folder, "delimiter": string(s.Delimiter), "encoding": s.Encoding, "columns": s.Columns,
		"leaver_threshold": s.LeaverThreshold, "prehire_days": s.PrehireDays, "time_zone": s.TimeZone}
}

func saveSettings(ctx context.Context, tx pgx.Tx, s Settings) error {
	cols, _ := json.Marshal(s.Columns)
	_, err := tx.Exec(ctx, `INSERT INTO hr_sources (system_id, folder, delimiter, encoding, columns, leaver_threshold, prehire_days, time_zone)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (system_id) DO UPDATE SET folder = $2, delimiter = $3, encoding = $4,
		columns = $5, leaver_threshold = $6, prehire_days = $7, time_zone = $8`,
		s.SystemID, s.Folder, string(s.Delimiter), s.Encoding, cols, s.LeaverThreshold, s.PrehireDays, s.TimeZone)
	if err != nil {
		return err
	}
	// A preview staged with other settings no longer holds.
	_, err = tx.Exec(ctx, "UPDATE hr_sources SET space_version = space_version + 1 WHERE system_id = $1", s.SystemID)
	return err
}

const sourceSelect = `SELECT s.id::text, s.name, h.folder, h.delimiter, h.encoding, h.columns, h.leaver_threshold, h.prehire_days,
	h.time_zone FROM hr_sources h JOIN connected_systems s ON s.id = h.system_id`

func scanSource(row pgx.Row) (Source, error) {
	var src Source
	var delim string
	var cols []byte
	if err := row.Scan(&src.ID, &src.Name, &src.Settings.Folder, &delim, &src.Settings.Encoding, &cols, &src.Settings.LeaverThreshold,
		&src.Settings.PrehireDays, &src.Settings.TimeZone); err != nil {
		return src, err
	}
	src.Settings.SystemID = src.ID
	src.Settings.Delimiter, _ = utf8.DecodeRuneInString(delim)
	return src, json.Unmarshal(cols, &src.Settings.Columns)
}

// Settings returns an HR system's settings and its name.
func (s *Service) Settings(ctx context.Context, systemID string) (Settings, string, error) {
	if !validUUID(systemID) {
		return Settings{}, "", portal.Errorf(portal.ENOTFOUND, "There is no such HR source.")
	}
	src, err := scanSource(s.Pool.QueryRow(ctx, sourceSelect+" WHERE h.system_id = $1", systemID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Settings{}, "", portal.Errorf(portal.ENOTFOUND, "There is no such HR source.")
	} else if err != nil {
		return Settings{}, "", fmt.Errorf("hr: settings: %w", err)
	}
	return src.Settings, src.Name, nil
}

// Sources returns every HR system, by name.
func (s *Service) Sources(ctx context.Context) ([]Source, error) {
	rows, err := s.Pool.Query(ctx, sourceSelect+" ORDER BY lower(s.name)")
	if err != nil {
		return nil, fmt.Errorf("hr: sources: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Source, error) { return scanSource(row) })
}

// FindSource finds an HR system by its name or ID.
func (s *Service) FindSource(ctx context.Context, nameOrID string) (*Source, error) {
	list, err := s.Sources(ctx)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if list[i].ID == nameOrID || strings.EqualFold(list[i].Name, nameOrID) {
			return &list[i], nil
		}
	}
	return nil, portal.Errorf(portal.ENOTFOUND, "There is no HR source %q.", nameOrID)
}

func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !unicode.Is(unicode.ASCII_Hex_Digit, r):
			return false
		}
	}
	return true
}
