package syncsvc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// storeLimits keeps the attribute limits a system's schema gave (lower-case
// names), and the person attribute limits they make under its rules.
func (e *Engine) storeLimits(ctx context.Context, tx pgx.Tx, systemID string, limits map[string]int) error {
	names, lens := make([]string, 0, len(limits)), make([]int32, 0, len(limits))
	for n, l := range limits {
		names, lens = append(names, n), append(lens, int32(min(l, 1<<31-1)))
	}
	b := &pgx.Batch{}
	b.Queue("DELETE FROM cs_attribute_limits WHERE system_id = $1", systemID)
	b.Queue(`INSERT INTO cs_attribute_limits (system_id, attribute, max_len) SELECT $1, n, l FROM unnest($2::text[], $3::int[]) AS t(n, l)`,
		systemID, names, lens)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("syncsvc: store attribute limits: %w", err)
	}
	return e.derivePersonLimits(ctx, tx, systemID)
}

// derivePersonLimits writes which person attributes a system limits: those
// that an outbound flow of its user rule copies as they are (person.X) to
// an attribute with a limit. The portal reads them when a request is
// submitted, so that it refuses there what the system would refuse after
// approval. Flows that compute a value are left out: their length is not
// the attribute's. (The DN template's RDN is cut to cn's 64 characters.)
func (e *Engine) derivePersonLimits(ctx context.Context, tx pgx.Tx, systemID string) error {
	rules, err := e.rulesOf(ctx, tx, systemID)
	if err != nil {
		return err
	}
	rows, err := tx.Query(ctx, "SELECT attribute, max_len FROM cs_attribute_limits WHERE system_id = $1", systemID)
	if err != nil {
		return fmt.Errorf("syncsvc: attribute limits: %w", err)
	}
	limits := map[string]int{}
	var name string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&name, &n}, func() error { limits[name] = n; return nil }); err != nil {
		return fmt.Errorf("syncsvc: attribute limits: %w", err)
	}
	type limit struct {
		cs  string
		max int
	}
	byAttr := map[string]limit{}
	for _, r := range rules {
		if r.Class != ObjectUser {
			continue
		}
		for _, f := range r.Outbound {
			attr, ok := strings.CutPrefix(strings.TrimSpace(f.Expr), "person.")
			if !ok || !isIdent(attr) {
				continue
			}
			if max, ok := limits[fold(f.CS)]; ok {
				if cur, seen := byAttr[attr]; !seen || max < cur.max {
					byAttr[attr] = limit{f.CS, max}
				}
			}
		}
	}
	var attrs, cs []string
	var maxes []int32
	for a, l := range byAttr {
		attrs, cs, maxes = append(attrs, a), append(cs, l.cs), append(maxes, int32(l.max))
	}
	b := &pgx.Batch{}
	b.Queue("DELETE FROM person_attribute_limits WHERE system_id = $1", systemID)
	b.Queue(`INSERT INTO person_attribute_limits (system_id, attribute, cs_attribute, max_len)
		SELECT $1, a, c, m FROM unnest($2::text[], $3::text[], $4::int[]) AS t(a, c, m)`, systemID, attrs, cs, maxes)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("syncsvc: store person attribute limits: %w", err)
	}
	return nil
}

// isIdent reports whether s is a bare attribute name (no operator, call or
// index that would make the flow compute its value).
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// readLimits asks a connector that can for its attribute limits and stores
// them; a connector that cannot leaves the system without limits.
func (e *Engine) readLimits(ctx context.Context, systemID string, conn Connector) error {
	sr, ok := conn.(SchemaReader)
	if !ok {
		return nil
	}
	limits, err := sr.AttributeLimits(ctx)
	if err != nil {
		return err
	}
	var single map[string]bool
	if vr, ok := conn.(ValueCountReader); ok {
		if single, err = vr.SingleValued(ctx); err != nil {
			return err
		}
	}
	err = pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		if err := e.storeLimits(ctx, tx, systemID, limits); err != nil {
			return err
		}
		return storeValueCounts(ctx, tx, systemID, single)
	})
	if err != nil || single == nil {
		return err
	}
	if err := e.recheckRules(ctx, systemID); err != nil {
		// The schema was read and stored: the import that read it, or the
		// connection test, did not fail. The rules are checked again by
		// the next full import, and each as it is saved.
		e.logger().Warn("sync rules not checked against the schema just read", "system", systemID, "error", err)
	}
	return nil
}

// recheckRules checks a system's saved sync rules against the schema just
// read: a rule saved before any was (no full import yet) was checked
// against none. A rule the schema refuses keeps why (schema_error), which
// its page and the system's show until it is saved again; a rule it takes
// loses an earlier refusal. A rule saved meanwhile was checked as it was
// saved, and is left as it is.
func (e *Engine) recheckRules(ctx context.Context, systemID string) error {
	sys, err := e.Systems.FindConnectedSystem(ctx, systemID)
	if err != nil {
		return err
	}
	rules, err := e.rulesOf(ctx, e.Pool, systemID)
	if err != nil || len(rules) == 0 {
		return err
	}
	env, err := ruleEnv(ctx, e.Pool)
	if err != nil {
		return err
	}
	stored, err := e.storedTargetSchema(ctx, systemID)
	if err != nil {
		return err
	}
	var classes, english []string
	var texts []*string
	var saved []time.Time
	for _, r := range rules {
		c, err := r.compile(env)
		if err == nil {
			err = checkTargets(sys, c, e.TargetSchemas[sys.Type], stored)
		}
		var why string
		var text *string
		if err != nil {
			if portal.ErrorCode(err) == portal.EINTERNAL {
				return err
			}
			t := portal.Reason(err)
			why, text = t.String(), new(string)
			*text = string(t.Stored())
		}
		classes, english, texts, saved = append(classes, string(r.Class)), append(english, why), append(texts, text), append(saved, r.UpdatedAt)
	}
	if _, err := e.Pool.Exec(ctx, `UPDATE sync_rules r SET schema_error = u.why, schema_error_text = u.text::jsonb
		FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(class, why, text, saved)
		WHERE r.system_id = $1 AND r.class = u.class AND r.updated_at = u.saved
			AND (r.schema_error, r.schema_error_text::text) IS DISTINCT FROM (u.why, u.text::jsonb::text)`,
		systemID, classes, english, texts, saved); err != nil {
		return fmt.Errorf("syncsvc: recheck sync rules: %w", err)
	}
	return nil
}

// storeValueCounts keeps which of a system's attributes hold one value
// (lower-case names), as its schema gave them; nil (a connector that
// cannot say) leaves what was stored.
func storeValueCounts(ctx context.Context, tx pgx.Tx, systemID string, single map[string]bool) error {
	if single == nil {
		return nil
	}
	names, ones := make([]string, 0, len(single)), make([]bool, 0, len(single))
	for n, one := range single {
		names, ones = append(names, n), append(ones, one)
	}
	b := &pgx.Batch{}
	b.Queue("DELETE FROM cs_attribute_values WHERE system_id = $1", systemID)
	b.Queue(`INSERT INTO cs_attribute_values (system_id, attribute, single_valued)
		SELECT $1, n, s FROM unnest($2::text[], $3::bool[]) AS t(n, s)`, systemID, names, ones)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("syncsvc: store attribute value counts: %w", err)
	}
	return nil
}

// storedTargetSchema is the schema a system's own schema gave when its
// limits were last read (ValueCountReader), or nil before that: an
// attribute it does not name is not checked (the engine maps some itself).
func (e *Engine) storedTargetSchema(ctx context.Context, systemID string) (TargetSchema, error) {
	rows, err := e.Pool.Query(ctx, "SELECT attribute, single_valued FROM cs_attribute_values WHERE system_id = $1", systemID)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: attribute value counts: %w", err)
	}
	single := map[string]bool{}
	var name string
	var one bool
	if _, err := pgx.ForEachRow(rows, []any{&name, &one}, func() error { single[name] = one; return nil }); err != nil {
		return nil, fmt.Errorf("syncsvc: attribute value counts: %w", err)
	}
	if len(single) == 0 {
		return nil, nil
	}
	return func(_ ObjectClass, name string) (TargetAttribute, bool) {
		return TargetAttribute{Name: name, Multi: !single[fold(name)]}, true
	}, nil
}

// ReadAttributeLimits connects to a saved system with its stored settings
// and reads its attribute limits, as a full import does: "Test connection"
// calls it, so that requests are checked against a system's limits before
// its first import.
func (e *Engine) ReadAttributeLimits(ctx context.Context, systemID string) error {
	sys, err := e.Systems.FindConnectedSystem(ctx, systemID)
	if err != nil {
		return err
	}
	conn, err := e.open(ctx, sys)
	if err != nil {
		return err
	}
	defer conn.Close()
	return e.readLimits(ctx, sys.ID, conn)
}
