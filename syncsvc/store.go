package syncsvc

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// rulesOf reads a system's sync rules as stored.
func (e *Engine) rulesOf(ctx context.Context, q querier, systemID string) ([]SyncRule, error) {
	rows, err := q.Query(ctx, `SELECT system_id, class, scope, join_rules, projection, inbound, outbound, provision,
		dn_template, initial_password, enable_on_create, deprovision, deprovision_ou, delete_after_days, updated_at,
		schema_error, schema_error_text
		FROM sync_rules WHERE system_id = $1 ORDER BY class DESC`, systemID)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: sync rules: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SyncRule, error) {
		var r SyncRule
		var joins, in, out, schemaText []byte
		var schemaError string
		err := row.Scan(&r.SystemID, &r.Class, &r.Scope, &joins, &r.Projection, &in, &out, &r.Provision, &r.DNTemplate,
			&r.InitialPassword, &r.EnableOnCreate, &r.Deprovision, &r.DeprovisionOU, &r.DeleteAfterDays, &r.UpdatedAt,
			&schemaError, &schemaText)
		if err == nil && schemaError != "" {
			r.SchemaError, err = portal.ReadStored(schemaText, schemaError, nil)
		}
		for _, x := range []struct {
			b []byte
			v any
		}{{joins, &r.JoinRules}, {in, &r.Inbound}, {out, &r.Outbound}} {
			if err == nil {
				err = json.Unmarshal(x.b, x.v)
			}
		}
		return r, err
	})
}

// SyncRules returns a system's sync rules.
func (e *Engine) SyncRules(ctx context.Context, systemID string) ([]SyncRule, error) {
	return e.rulesOf(ctx, e.Pool, systemID)
}

// SaveSyncRule checks r (every CEL expression is compiled and type-checked)
// and stores it in place of the system's rule for its class.
func (e *Engine) SaveSyncRule(ctx context.Context, v portal.Viewer, r SyncRule) error {
	if !v.Has(portal.RoleAdmin) {
		return portal.Errorf(portal.EFORBIDDEN, "Only administrators change sync rules.")
	}
	sys, err := e.Systems.FindConnectedSystem(ctx, r.SystemID)
	if err != nil {
		return err
	}
	env, err := ruleEnv(ctx, e.Pool)
	if err != nil {
		return err
	}
	c, err := r.compile(env)
	if err != nil {
		return err
	}
	stored, err := e.storedTargetSchema(ctx, sys.ID)
	if err != nil {
		return err
	}
	if err := checkTargets(sys, c, e.TargetSchemas[sys.Type], stored); err != nil {
		return err
	}
	// What Tessera creates or moves must stay where it imports from, or
	// every import would lose it and every sync make it again.
	if c.template != nil {
		sample, _ := expandTemplate(c.template, func(templatePart) string { return "x" })
		if !inScopeOf(sys, sample) {
			return portal.Errorf(portal.EINVALID, "The DN template %q makes objects outside the OUs in scope of %s (%s).",
				r.DNTemplate, sys.Name, scopeText(sys))
		}
	}
	if r.DeprovisionOU != "" && !inScopeOf(sys, "CN=x,"+r.DeprovisionOU) {
		return portal.Errorf(portal.EINVALID, "The deprovisioning OU %q is outside the OUs in scope of %s (%s): disabled accounts moved there would be lost to Tessera.",
			r.DeprovisionOU, sys.Name, scopeText(sys))
	}
	joins, _ := json.Marshal(NonNil(r.JoinRules))
	in, _ := json.Marshal(NonNil(r.Inbound))
	out, _ := json.Marshal(NonNil(r.Outbound))
	return pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sync_rules (system_id, class, scope, join_rules, projection, inbound, outbound,
				provision, dn_template, initial_password, enable_on_create, deprovision, deprovision_ou, delete_after_days)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
			ON CONFLICT (system_id, class) DO UPDATE SET scope = $3, join_rules = $4, projection = $5, inbound = $6,
				outbound = $7, provision = $8, dn_template = $9, initial_password = $10, enable_on_create = $11,
				deprovision = $12, deprovision_ou = $13, delete_after_days = $14, updated_at = now(),
				schema_error = '', schema_error_text = NULL`,
			r.SystemID, string(r.Class), r.Scope, joins, r.Projection, in, out, r.Provision, r.DNTemplate, r.InitialPassword,
			r.EnableOnCreate, string(r.Deprovision), r.DeprovisionOU, r.DeleteAfterDays)
		if err != nil {
			return err
		}
		// Other flows, other limits on what requests may ask.
		if err := e.derivePersonLimits(ctx, tx, r.SystemID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "SELECT audit_append(NULLIF($1, '')::uuid, 'sync_rule_save', 'connected_system', $2, $3)", v.PersonID, r.SystemID,
			map[string]any{"class": r.Class, "scope": r.Scope, "join_rules": json.RawMessage(joins), "inbound": json.RawMessage(in),
				"outbound": json.RawMessage(out), "provision": r.Provision, "dn_template": r.DNTemplate,
				"deprovision": r.Deprovision})
		return err
	})
}

// inScopeOf reports whether dn lies in the system's OUs in scope (or its
// base DN when it names none).
func inScopeOf(sys *portal.ConnectedSystem, dn string) bool {
	scope := sys.OUs
	if len(scope) == 0 {
		scope = []string{sys.BaseDN}
	}
	for _, ou := range scope {
		if UnderDN(dn, ou) {
			return true
		}
	}
	return false
}

func scopeText(sys *portal.ConnectedSystem) string {
	if len(sys.OUs) == 0 {
		return sys.BaseDN
	}
	return strings.Join(sys.OUs, "; ")
}

// NonNil is s, or an empty slice for nil: what a query's array parameter
// and a JSON list need, which nil would make NULL and null.
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// DefaultUserRule is the sync rule a new AD connected system starts from:
// join on employeeID, then sAMAccountName; the usual attribute flows;
// accounts created disabled under OU=People.
func DefaultUserRule(systemID, baseDN string) SyncRule {
	return SyncRule{
		SystemID: systemID, Class: ObjectUser,
		JoinRules: []JoinRule{{CS: "employeeID", MV: "employeeId"}, {CS: "sAMAccountName", MV: "accountName"}},
		Outbound: []OutboundFlow{
			{CS: "sAMAccountName", Expr: "person.accountName", InitialOnly: true},
			{CS: "userPrincipalName", Expr: "person.accountName + " + strconv.Quote("@"+upnSuffix(baseDN)), InitialOnly: true},
			{CS: "employeeID", Expr: "person.employeeId"},
			{CS: "givenName", Expr: "person.givenName"},
			{CS: "sn", Expr: "person.surname"},
			{CS: "displayName", Expr: "person.displayName"},
			{CS: "mail", Expr: "person.email"},
			{CS: "title", Expr: "person.title"},
			{CS: "department", Expr: "person.department"},
			{CS: "physicalDeliveryOfficeName", Expr: "person.office"},
			{CS: "telephoneNumber", Expr: "person.phone"},
			{CS: "mobile", Expr: "person.mobile"},
			// A reference: the manager's account DN.
			{CS: "manager", Expr: "person.managerId"},
		},
		Inbound: []InboundFlow{
			{MV: "managerId", Expr: "cs.manager", Precedence: 100},
			{MV: "phone", Expr: "cs.telephoneNumber", Precedence: 100},
			{MV: "mobile", Expr: "cs.mobile", Precedence: 100},
			{MV: "office", Expr: "cs.physicalDeliveryOfficeName", Precedence: 100},
		},
		Provision: true, DNTemplate: "CN={displayName},OU=People," + baseDN,
		InitialPassword: "none", Deprovision: DeprovisionDisable, DeprovisionOU: "",
	}
}

// DefaultGroupRule provisions the portal's groups under OU=Groups with
// their members.
func DefaultGroupRule(systemID, baseDN string) SyncRule {
	return SyncRule{
		SystemID: systemID, Class: ObjectGroup,
		JoinRules: []JoinRule{{CS: "sAMAccountName", MV: "name"}},
		Outbound: []OutboundFlow{
			{CS: "sAMAccountName", Expr: "group.name", InitialOnly: true},
			{CS: "displayName", Expr: "group.displayName"},
			{CS: "description", Expr: "group.description"},
			{CS: "mail", Expr: "group.email"},
		},
		Provision: true, DNTemplate: "CN={name},OU=Groups," + baseDN, Deprovision: DeprovisionDelete,
	}
}

// upnSuffix turns DC=example,DC=test into example.test.
func upnSuffix(baseDN string) string {
	dn, err := portal.ParseDN(baseDN)
	if err != nil {
		return "example.com"
	}
	var parts []string
	for _, rdn := range dn {
		for _, ava := range rdn {
			if fold(ava.Type) == "dc" {
				parts = append(parts, ava.Value)
			}
		}
	}
	if len(parts) == 0 {
		return "example.com"
	}
	out := parts[0]
	for _, p := range parts[1:] {
		out += "." + p
	}
	return out
}

// SystemStatus is a connected system's sync state at a glance.
type SystemStatus struct {
	System       portal.ConnectedSystem
	Reachable    bool
	LastError    string
	LastErrorAt  *time.Time
	Objects      int // in the connector space
	Joined       int
	Unjoined     int
	Pending      int // pending exports
	ExportErrors int
	Unconfirmed  int
	HasRules     bool
	LastRun      *Run
	Running      *Run
}

// State says in a word or two how the system is.
func (s *SystemStatus) State() string {
	switch {
	case !s.System.Enabled:
		return "disabled"
	case !s.Reachable:
		return "unreachable"
	case s.System.Staging:
		return "staging"
	case s.Running != nil:
		return "running"
	}
	return "ok"
}

// Status returns every connected system's sync state.
func (e *Engine) Status(ctx context.Context) ([]SystemStatus, error) {
	systems, err := e.Systems.ListConnectedSystems(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]SystemStatus, len(systems))
	for i, sys := range systems {
		s := &out[i]
		s.System = sys
		err := e.Pool.QueryRow(ctx, `SELECT s.reachable, s.last_error, s.last_error_at,
			(SELECT count(*) FROM cs_objects c WHERE c.system_id = s.id AND c.anchor IS NOT NULL),
			(SELECT count(*) FROM cs_objects c WHERE c.system_id = s.id AND c.anchor IS NOT NULL
				AND (c.person_id IS NOT NULL OR c.group_id IS NOT NULL)),
			(SELECT count(*) FROM cs_objects c WHERE c.system_id = s.id AND c.person_id IS NULL AND c.group_id IS NULL),
			(SELECT count(*) FROM cs_objects c WHERE c.system_id = s.id AND c.export_op IS NOT NULL),
			(SELECT count(*) FROM cs_objects c WHERE c.system_id = s.id AND c.export_op IS NOT NULL AND c.export_status = 'error'),
			(SELECT count(DISTINCT e.cs_id) FROM export_requests e WHERE e.system_id = s.id AND e.sent_at IS NOT NULL),
			EXISTS (SELECT 1 FROM sync_rules r WHERE r.system_id = s.id)
			FROM connected_systems s WHERE s.id = $1`, sys.ID).Scan(&s.Reachable, &s.LastError, &s.LastErrorAt, &s.Objects,
			&s.Joined, &s.Unjoined, &s.Pending, &s.ExportErrors, &s.Unconfirmed, &s.HasRules)
		if err != nil {
			return nil, fmt.Errorf("syncsvc: status: %w", err)
		}
		runs, err := e.Runs(ctx, sys.ID, 5)
		if err != nil {
			return nil, err
		}
		for j := range runs {
			if runs[j].Status == "running" && s.Running == nil {
				s.Running = &runs[j]
			} else if s.LastRun == nil && runs[j].Done() {
				s.LastRun = &runs[j]
			}
		}
	}
	return out, nil
}

// PendingExports lists a system's pending exports, errors first.
func (e *Engine) PendingExports(ctx context.Context, systemID string, errorsOnly bool, limit int) ([]PendingExport, error) {
	rows, err := e.Pool.Query(ctx, `SELECT c.id, c.export_op, c.dn, c.export_new_dn, c.class, c.export_changes, c.export_status,
			c.export_attempts, c.export_error, c.export_error_text, coalesce(c.export_next_at, now()),
			coalesce((SELECT array_agg(r.request_id::text) FROM export_requests r WHERE r.cs_id = c.id AND r.sent_at IS NULL), '{}'),
			c.export_deprovision
		FROM cs_objects c
		WHERE c.system_id = $1 AND c.export_op IS NOT NULL AND (NOT $2 OR c.export_status = 'error')
		ORDER BY c.export_status = 'error' DESC, c.export_updated_at DESC, c.id LIMIT $3`, systemID, errorsOnly, limit)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: pending exports: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (PendingExport, error) {
		var p PendingExport
		var changes, stored []byte
		err := row.Scan(&p.CSID, &p.Op, &p.DN, &p.NewDN, &p.Class, &changes, &p.Status, &p.Attempts, &p.LastError, &stored,
			&p.NextAttempt, &p.RequestIDs, &p.Deprovision)
		if err == nil {
			err = json.Unmarshal(changes, &p.Changes)
		}
		if err == nil {
			p.LastErrorText, err = portal.ReadStored(stored, p.LastError, nil)
		}
		return p, err
	})
}

// RetryExports makes a system's failed exports due now (all of them, or
// one when csID is set); the next export run sends them.
func (e *Engine) RetryExports(ctx context.Context, v portal.Viewer, systemID string, csID int64) (int, error) {
	if !v.Has(portal.RoleAdmin) {
		return 0, portal.Errorf(portal.EFORBIDDEN, "Only administrators retry exports.")
	}
	tag, err := e.Pool.Exec(ctx, `UPDATE cs_objects SET export_next_at = now(), export_status = 'pending'
		WHERE system_id = $1 AND export_op IS NOT NULL AND export_status = 'error' AND ($2::bigint = 0 OR id = $2::bigint)`,
		systemID, csID)
	if err != nil {
		return 0, fmt.Errorf("syncsvc: retry exports: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ConnectorSpace lists a system's connector space objects: unjoined ones
// only when unjoined is set, and those whose DN contains filter.
func (e *Engine) ConnectorSpace(ctx context.Context, systemID string, unjoined bool, filter string, limit int) ([]CSObject, error) {
	rows, err := e.Pool.Query(ctx, csSelect+` WHERE system_id = $1 AND (NOT $2 OR (person_id IS NULL AND group_id IS NULL))
		AND ($3 = '' OR strpos(lower(dn), lower($3)) > 0) ORDER BY lower(dn) LIMIT $4`, systemID, unjoined, filter, limit)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: connector space: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (CSObject, error) {
		o, err := scanCS(row)
		if err != nil {
			return CSObject{}, err
		}
		return *o, nil
	})
}
