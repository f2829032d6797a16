package postgres

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/rule"
)

var (
	_ portal.SetService          = (*DB)(nil)
	_ portal.DynamicGroupService = (*DB)(nil)
)

// Dynamic groups keep their members materialised in group_members (with
// computed = true). Two recomputations keep them right: a full one of a
// group over everyone (when its rule is saved, or on demand) and an
// incremental one of a person over every dynamic group (when the person's
// attributes change). An advisory lock orders them: a group's recompute
// holds it exclusively and a person's shares it, so that a person changed
// while a group is recomputed is re-evaluated after it, never before.
// The lock uses the two-key form, apart from the single-key locks of the
// migrations and the audit log.
const dynLockClass, dynLockID = portal.LockClassDynamic, 3

const (
	lockDynamicExclusive = "SELECT pg_advisory_xact_lock($1::int, $2::int)"
	lockDynamicShared    = "SELECT pg_advisory_xact_lock_shared($1::int, $2::int)"
)

// dynQuerier is what both the pool and a transaction offer.
type dynQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// compiledRules caches compiled rules in this process, by schema and rule
// text: recomputing one person evaluates every dynamic group, and
// compiling a rule costs a hundred times more than evaluating it. The
// rule language of each schema is kept in it too, for compiling a new rule
// against a known schema; one map, so that the two start afresh together.
var compiledRules = ruleCache{rule.NewCache[ruleKey, ruleEntry](maxCachedRules)}

// maxCachedRules bounds the cache; past it the cache starts afresh.
const maxCachedRules = 20_000

type ruleKey struct {
	schema, src string
	// env marks the entry of the schema's rule language (src is empty).
	env bool
}

// ruleSchema is the person attribute table with the key that identifies
// it by what the rule language sees of its extra attributes: names and
// types.
type ruleSchema struct {
	key    string
	schema *portal.Schema
}

func newRuleSchema(extra []portal.Attribute) ruleSchema {
	var b strings.Builder
	for _, a := range extra {
		b.WriteString(a.Name)
		b.WriteByte(':')
		b.WriteString(a.Type)
		b.WriteByte(',')
	}
	return ruleSchema{key: b.String(), schema: portal.NewSchema(extra)}
}

// ruleEntry is a schema's rule language (env) or a rule compiled against
// it, with its error.
type ruleEntry struct {
	env  *rule.Env
	rule *rule.Rule
	err  error
}

type ruleCache struct {
	*rule.Cache[ruleKey, ruleEntry]
}

// compile returns src compiled against schema, from the cache when it can.
// A rule that does not compile is cached too, with its error.
func (c ruleCache) compile(schema ruleSchema, src string) (*rule.Rule, error) {
	key := ruleKey{schema: schema.key, src: src}
	if e, ok := c.Get(key); ok {
		return e.rule, e.err
	}
	env, err := c.env(schema)
	if err != nil {
		return nil, err
	}
	r, err := env.Compile(src)
	c.Put(key, ruleEntry{rule: r, err: err})
	return r, err
}

// env returns the rule language for schema, from the cache when it can.
func (c ruleCache) env(schema ruleSchema) (*rule.Env, error) {
	key := ruleKey{schema: schema.key, env: true}
	if e, ok := c.Get(key); ok {
		return e.env, nil
	}
	env, err := rule.NewEnv(schema.schema)
	if err != nil {
		return nil, err
	}
	c.Put(key, ruleEntry{env: env})
	return env, nil
}

// loadSchema reads the extra attributes rules may use.
func loadSchema(ctx context.Context, q dynQuerier) (ruleSchema, error) {
	attrs, err := readExtraAttributes(ctx, q)
	if err != nil {
		return ruleSchema{}, err
	}
	return newRuleSchema(attrs), nil
}

// compileRule compiles src against the schema in the database.
func compileRule(ctx context.Context, q dynQuerier, src string) (*rule.Rule, error) {
	schema, err := loadSchema(ctx, q)
	if err != nil {
		return nil, err
	}
	return compiledRules.compile(schema, src)
}

// personStream reads everyone, but only the attributes a rule reads (and
// the ID, display name and sort key), into one reused Person: a full
// recompute over 100,000 people then moves a few columns, not whole rows.
type personStream struct {
	sql       string
	args      []any
	p         portal.Person
	id        pgtype.UUID
	sortName  string
	extras    []string
	extraVals []string
	dest      []any
}

func newPersonStream(attrs []string) *personStream {
	s := &personStream{p: portal.Person{Extra: map[string]string{}}}
	cols := []string{"p.id", "p.display_name", "p.sort_name"}
	s.dest = []any{&s.id, &s.p.DisplayName, &s.sortName}
	for _, name := range attrs {
		if name == "displayName" {
			continue
		}
		// Only core attributes have columns.
		if a, ok := portal.CoreSchema().Lookup(name); ok {
			cols = append(cols, a.SelectSQL("p"))
			s.dest = append(s.dest, a.Field(&s.p))
			continue
		}
		s.args = append(s.args, name)
		cols = append(cols, fmt.Sprintf("coalesce(p.extra->>$%d::text, '')", len(s.args)))
		s.extras = append(s.extras, name)
	}
	s.extraVals = make([]string, len(s.extras))
	for i := range s.extraVals {
		s.dest = append(s.dest, &s.extraVals[i])
	}
	s.sql = "SELECT " + strings.Join(cols, ", ") + " FROM people p"
	return s
}

// each calls fn for every person, with the same Person each time.
func (s *personStream) each(ctx context.Context, q dynQuerier, fn func(id pgtype.UUID, sortName string, p *portal.Person) error) error {
	rows, err := q.Query(ctx, s.sql, s.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(s.dest...); err != nil {
			return err
		}
		for i, name := range s.extras {
			s.p.Extra[name] = s.extraVals[i]
		}
		if err := fn(s.id, s.sortName, &s.p); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SaveDynamicRule makes a group dynamic with the rule src (or changes its
// rule) and recomputes its members in the same transaction: the members
// are then exactly the people the rule selects. A rule that does not
// compile, or that fails for someone, is refused with an EINVALID error
// and nothing is stored. The caller has checked that v may do this.
func (db *DB) SaveDynamicRule(ctx context.Context, v portal.Viewer, groupID, src string) error {
	if !validID(groupID) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such group.")
	}
	src = strings.TrimSpace(src)
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		r, err := compileRule(ctx, tx, src)
		if err != nil {
			return err
		}
		old, err := lockGroupRule(ctx, tx, groupID)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE groups SET membership_rule = $2 WHERE id = $1", groupID, src); err != nil {
			return err
		}
		// The rule now owns every membership of the group.
		if _, err := tx.Exec(ctx, "UPDATE group_members SET computed = true WHERE group_id = $1 AND NOT computed", groupID); err != nil {
			return err
		}
		added, removed, err := recomputeGroup(ctx, tx, groupID, r, true)
		if err != nil {
			return err
		}
		details := map[string]any{"rule": src, "added": added, "removed": removed}
		if old != nil {
			details["previous_rule"] = *old
		}
		return Audit(ctx, tx, v.PersonID, "group_rule_saved", "group", groupID, details)
	})
	if code := portal.ErrorCode(err); code == portal.EINVALID || code == portal.ENOTFOUND {
		return err
	} else if err != nil {
		return fmt.Errorf("postgres: save dynamic rule: %w", err)
	}
	return nil
}

// ClearDynamicRule makes a dynamic group static again; its members stay,
// as ordinary members that owners and requests manage.
func (db *DB) ClearDynamicRule(ctx context.Context, v portal.Viewer, groupID string) error {
	if !validID(groupID) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such group.")
	}
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		old, err := lockGroupRule(ctx, tx, groupID)
		if err != nil {
			return err
		}
		if old == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, "UPDATE groups SET membership_rule = NULL WHERE id = $1", groupID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE group_members SET computed = false WHERE group_id = $1 AND computed", groupID); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "group_rule_cleared", "group", groupID, map[string]any{"previous_rule": *old})
	})
	if code := portal.ErrorCode(err); code == portal.ENOTFOUND {
		return err
	} else if err != nil {
		return fmt.Errorf("postgres: clear dynamic rule: %w", err)
	}
	return nil
}

// RecomputeGroup recomputes a dynamic group's members over everyone and
// applies the difference. Someone for whom the rule fails (say, an index
// out of range) is not a member: a rule never grants by mistake.
func (db *DB) RecomputeGroup(ctx context.Context, groupID string) (added, removed int, err error) {
	if !validID(groupID) {
		return 0, 0, portal.Errorf(portal.ENOTFOUND, "There is no such group.")
	}
	err = pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		src, err := lockGroupRule(ctx, tx, groupID)
		if err != nil {
			return err
		}
		if src == nil {
			return portal.Errorf(portal.EINVALID, "This group is not dynamic; its owners manage its members.")
		}
		r, err := compileRule(ctx, tx, *src)
		if err != nil {
			return err
		}
		if added, removed, err = recomputeGroup(ctx, tx, groupID, r, false); err != nil {
			return err
		}
		if added+removed == 0 {
			return nil
		}
		return Audit(ctx, tx, "", "group_recomputed", "group", groupID, map[string]any{"added": added, "removed": removed})
	})
	if code := portal.ErrorCode(err); code == portal.EINVALID || code == portal.ENOTFOUND {
		return 0, 0, err
	} else if err != nil {
		return 0, 0, fmt.Errorf("postgres: recompute group: %w", err)
	}
	return added, removed, nil
}

// recomputeGroup evaluates r for everyone and makes the group's members
// those it selects. With strict, a person for whom the rule fails stops
// it with that error; otherwise that person is not a member.
func recomputeGroup(ctx context.Context, tx pgx.Tx, groupID string, r *rule.Rule, strict bool) (added, removed int, err error) {
	rows, err := tx.Query(ctx, "SELECT person_id FROM group_members WHERE group_id = $1", groupID)
	if err != nil {
		return 0, 0, err
	}
	current := map[[16]byte]struct{}{}
	var id pgtype.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error {
		current[id.Bytes] = struct{}{}
		return nil
	}); err != nil {
		return 0, 0, err
	}
	var add []pgtype.UUID
	err = newPersonStream(r.Attributes()).each(ctx, tx, func(id pgtype.UUID, _ string, p *portal.Person) error {
		ok, err := r.Match(p)
		if err != nil && strict {
			return err
		}
		if !ok {
			return nil
		}
		if _, in := current[id.Bytes]; in {
			delete(current, id.Bytes)
		} else {
			add = append(add, id)
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	remove := make([]pgtype.UUID, 0, len(current))
	for b := range current {
		remove = append(remove, pgtype.UUID{Bytes: b, Valid: true})
	}
	if len(add) > 0 {
		// A person someone added meanwhile stays, as that row.
		if _, err := tx.Exec(ctx, `INSERT INTO group_members (group_id, person_id, computed)
			SELECT $1, unnest($2::uuid[]), true ON CONFLICT (group_id, person_id) DO NOTHING`, groupID, add); err != nil {
			return 0, 0, err
		}
	}
	if len(remove) > 0 {
		if _, err := tx.Exec(ctx, "DELETE FROM group_members WHERE group_id = $1 AND person_id = ANY($2::uuid[])", groupID, remove); err != nil {
			return 0, 0, err
		}
	}
	return len(add), len(remove), nil
}

// RecomputePerson re-evaluates every dynamic group for one person, after a
// change to their attributes has committed, and applies the difference.
func (db *DB) RecomputePerson(ctx context.Context, personID string) error {
	// In two round trips: the BEGIN goes with the reads, and the joins,
	// leaves and audit entries with the COMMIT.
	err := db.inTx(ctx, func(tx *finalTx) error {
		_, _, err := db.RecomputePersonTx(ctx, tx, personID)
		return err
	})
	if code := portal.ErrorCode(err); code == portal.ENOTFOUND {
		return err
	} else if err != nil {
		return fmt.Errorf("postgres: recompute person: %w", err)
	}
	return nil
}

// HoldDynamicRules takes, for the rest of tx, the shared lock on the
// dynamic group rules that RecomputePersonTx takes, for a transaction that
// must see one version of the rules from its first statement on.
func (db *DB) HoldDynamicRules(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, lockDynamicShared, dynLockClass, dynLockID)
	return err
}

// RecomputePersonTx is RecomputePerson inside tx, for the request pipeline
// to call in the transaction that changes the person, so that the change
// and the memberships it implies commit together. It returns the IDs of
// the dynamic groups the person joined and left. A group whose rule no
// longer compiles (the schema changed under it) is left as it is; a rule
// that fails for this person does not select them.
func (db *DB) RecomputePersonTx(ctx context.Context, tx pgx.Tx, personID string) (joined, left []string, err error) {
	if !validID(personID) {
		return nil, nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	personID = strings.ToLower(personID) // as the database writes it, and the changes are keyed
	changes, found, err := db.recomputePeople(ctx, tx, []string{personID})
	if err != nil {
		return nil, nil, err
	}
	if found == 0 {
		return nil, nil, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	c := changes[personID]
	return c.joined, c.left, nil
}

// recomputeChunk is how many people recomputePeople reads at once.
const recomputeChunk = 5000

// RecomputePeopleTx is RecomputePersonTx for many people in one pass, for
// a sync that changed or created them: the rules are read once, and the
// people, their memberships, the joins, the leaves and the audit entries
// go in a few statements for every few thousand people instead of a few
// round trips each. IDs of people deleted meanwhile, or not IDs, are
// skipped.
func (db *DB) RecomputePeopleTx(ctx context.Context, tx pgx.Tx, personIDs []string) error {
	ids := make([]string, 0, len(personIDs))
	for _, id := range personIDs {
		if validID(id) {
			ids = append(ids, strings.ToLower(id))
		}
	}
	// In one order, so that two of them lock their people in that order.
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for len(ids) > 0 {
		n := min(len(ids), recomputeChunk)
		if _, _, err := db.recomputePeople(ctx, tx, ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// membershipChange is what re-evaluating the dynamic groups changed for
// one person.
type membershipChange struct{ joined, left []string }

// recomputePeople re-evaluates every dynamic group for each of ids (valid,
// distinct), and applies and audits the difference, in two round trips
// (three when the rules changed since this process last read them; one
// when tx is a finalTx, which sends the writes with its next statements).
// It returns the changes by person and how many of ids it found.
func (db *DB) recomputePeople(ctx context.Context, tx pgx.Tx, ids []string) (map[string]membershipChange, int, error) {
	var (
		schema  ruleSchema
		people  []portal.Person
		current = map[string]map[string]bool{} // person → their groups
		version int64
	)
	b := &pgx.Batch{}
	b.Queue(lockDynamicShared, dynLockClass, dynLockID)
	b.Queue(selectSchema).Query(func(rows pgx.Rows) error {
		attrs, err := pgx.CollectRows(rows, scanAttribute)
		schema = newRuleSchema(attrs)
		return err
	})
	// Extra values are read as text whatever their JSON type.
	b.Queue(`SELECT `+personColumns+`, (SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM jsonb_each_text(p.extra) e(k, v))
		FROM people p WHERE p.id = ANY($1::text[]::uuid[]) ORDER BY p.id FOR NO KEY UPDATE`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var p portal.Person
			var extra map[string]string
			if err := scanPerson(rows, &p, &extra); err != nil {
				return err
			}
			p.Extra = extra
			people = append(people, p)
		}
		return rows.Err()
	})
	b.Queue("SELECT version FROM dynamic_rules").QueryRow(func(row pgx.Row) error { return row.Scan(&version) })
	// All the people's groups, static ones too: a join with the dynamic
	// groups is left to Go, as the planner may walk every dynamic group for
	// each membership.
	b.Queue("SELECT person_id::text, group_id::text FROM group_members WHERE person_id = ANY($1::text[]::uuid[])", ids).
		Query(func(rows pgx.Rows) error {
			var person, group string
			_, err := pgx.ForEachRow(rows, []any{&person, &group}, func() error {
				if current[person] == nil {
					current[person] = map[string]bool{}
				}
				current[person][group] = true
				return nil
			})
			return err
		})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, err
	}
	groups, err := db.rules.get(ctx, tx, version)
	if err != nil {
		return nil, 0, err
	}
	rules := db.rules.compiled(version, groups, schema)
	changes := map[string]membershipChange{}
	var joinGroups, joinPeople, leaveGroups, leavePeople []string
	var auditPeople, auditDetails []string
	for i := range people {
		p := &people[i]
		var c membershipChange
		for k, g := range groups {
			if rules[k] == nil {
				continue
			}
			ok, _ := rules[k].Match(p)
			switch in := current[p.ID][g.ID]; {
			case ok && !in:
				c.joined = append(c.joined, g.ID)
			case !ok && in:
				c.left = append(c.left, g.ID)
			}
		}
		if len(c.joined)+len(c.left) == 0 {
			continue
		}
		changes[p.ID] = c
		for _, g := range c.joined {
			joinGroups, joinPeople = append(joinGroups, g), append(joinPeople, p.ID)
		}
		for _, g := range c.left {
			leaveGroups, leavePeople = append(leaveGroups, g), append(leavePeople, p.ID)
		}
		details, err := json.Marshal(map[string]any{"joined": c.joined, "left": c.left})
		if err != nil {
			return nil, 0, err
		}
		auditPeople, auditDetails = append(auditPeople, p.ID), append(auditDetails, string(details))
	}
	if len(changes) == 0 {
		return nil, len(people), nil
	}
	b = &pgx.Batch{}
	if len(joinGroups) > 0 {
		b.Queue(`INSERT INTO group_members (group_id, person_id, computed)
			SELECT g, p, true FROM unnest($1::text[]::uuid[], $2::text[]::uuid[]) AS j(g, p)
			ON CONFLICT (group_id, person_id) DO NOTHING`, joinGroups, joinPeople)
	}
	if len(leaveGroups) > 0 {
		b.Queue(`DELETE FROM group_members m USING unnest($1::text[]::uuid[], $2::text[]::uuid[]) AS l(g, p)
			WHERE m.group_id = l.g AND m.person_id = l.p`, leaveGroups, leavePeople)
	}
	actions, types := make([]string, len(auditPeople)), make([]string, len(auditPeople))
	for i := range actions {
		actions[i], types[i] = "dynamic_membership_changed", "person"
	}
	// One call appends every entry (migrations/0050_audit_append_many.sql).
	b.Queue(`SELECT audit_append_many($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]::jsonb[])`,
		make([]pgtype.UUID, len(auditPeople)), actions, types, auditPeople, auditDetails)
	if ft, ok := tx.(*finalTx); ok {
		// Nothing here needs their results: they go in front of the
		// transaction's next round trip (at the latest its COMMIT), and
		// their errors are that round trip's.
		ft.sendAhead(b)
		return changes, len(people), nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, 0, fmt.Errorf("postgres: dynamic memberships: %w", err)
	}
	return changes, len(people), nil
}

type dynamicGroup struct {
	ID   string
	Rule string
}

// rulesCopy keeps the dynamic groups' rules in memory: re-evaluating one
// person reads every rule, and reading 500 rules costs more than
// evaluating them.
type rulesCopy struct {
	mu      sync.Mutex
	version int64 // of dynamic_rules; 0: none yet
	groups  []dynamicGroup
	// rules are the groups' rules compiled against the attribute table
	// whose key is schemaKey (nil: not yet): looking each of 500 up in
	// compiledRules cost a tenth of a person's re-evaluation.
	schemaKey string
	rules     []*rule.Rule
}

// compiled returns the rules of groups (as of version) compiled against
// schema, index for index; nil for a rule that no longer compiles, which
// leaves its group as it is. The compiled rules are kept, and given back,
// only for the very groups the copy holds: two reads of one version may
// list the groups in different orders (no ORDER BY, and a group's update
// that does not touch its rule moves its row without a new version), and
// rules compiled for one read, paired index for index with the other,
// would judge one group by another's rule.
func (c *rulesCopy) compiled(version int64, groups []dynamicGroup, schema ruleSchema) []*rule.Rule {
	c.mu.Lock()
	if c.version == version && c.rules != nil && c.schemaKey == schema.key && c.holds(groups) {
		defer c.mu.Unlock()
		return c.rules
	}
	c.mu.Unlock()
	rules := make([]*rule.Rule, len(groups))
	for i, g := range groups {
		rules[i], _ = compiledRules.compile(schema, g.Rule)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Only for the rules the copy holds: groups of an older snapshot, or
	// another read of this one, are not kept.
	if c.version == version && c.holds(groups) {
		c.schemaKey, c.rules = schema.key, rules
	}
	return rules
}

// holds says whether groups is the copy's own slice (not merely equal to
// it). c.mu must be held.
func (c *rulesCopy) holds(groups []dynamicGroup) bool {
	return len(groups) == len(c.groups) && (len(groups) == 0 || &groups[0] == &c.groups[0])
}

// get returns the rules as of version (the dynamic_rules version tx sees),
// reading them in tx when the copy is of another version.
func (c *rulesCopy) get(ctx context.Context, tx pgx.Tx, version int64) ([]dynamicGroup, error) {
	c.mu.Lock()
	if c.version == version {
		defer c.mu.Unlock()
		return c.groups, nil
	}
	c.mu.Unlock()
	rows, err := tx.Query(ctx, "SELECT id::text, membership_rule FROM groups WHERE membership_rule IS NOT NULL")
	if err != nil {
		return nil, err
	}
	groups, err := pgx.CollectRows(rows, pgx.RowToStructByPos[dynamicGroup])
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Versions only grow (a sequence): an older snapshot does not replace
	// a newer copy.
	if version > c.version {
		c.version, c.groups, c.rules = version, groups, nil
	}
	return groups, nil
}

// PreviewRule evaluates src for everyone without storing anything, for the
// rule editor: how many people match, and the first limit of them (1 to
// 100) by name. A rule that does not compile or that fails for someone is
// an EINVALID error that says why.
func (db *DB) PreviewRule(ctx context.Context, src string, limit int) (count int, sample []portal.PersonRef, err error) {
	if limit <= 0 || limit > 100 {
		limit = 10
	}
	r, err := compileRule(ctx, db.Pool, strings.TrimSpace(src))
	if err != nil {
		if portal.ErrorCode(err) == portal.EINVALID {
			return 0, nil, err
		}
		return 0, nil, fmt.Errorf("postgres: preview rule: %w", err)
	}
	// Keep the first limit matches by sort key as they stream past.
	type match struct {
		sortName string
		id       pgtype.UUID
	}
	var first []match
	less := func(a, b match) int {
		return cmp.Or(strings.Compare(a.sortName, b.sortName), slices.Compare(a.id.Bytes[:], b.id.Bytes[:]))
	}
	err = newPersonStream(r.Attributes()).each(ctx, db.Pool, func(id pgtype.UUID, sortName string, p *portal.Person) error {
		ok, err := r.Match(p)
		if err != nil || !ok {
			return err
		}
		count++
		m := match{sortName, id}
		if len(first) == limit && less(m, first[limit-1]) >= 0 {
			return nil
		}
		i, _ := slices.BinarySearchFunc(first, m, less)
		first = slices.Insert(first, i, m)
		if len(first) > limit {
			first = first[:limit]
		}
		return nil
	})
	if code := portal.ErrorCode(err); code == portal.EINVALID {
		return 0, nil, err
	} else if err != nil {
		return 0, nil, fmt.Errorf("postgres: preview rule: %w", err)
	}
	if len(first) == 0 {
		return count, nil, nil
	}
	ids := make([]pgtype.UUID, len(first))
	for i, m := range first {
		ids[i] = m.id
	}
	rows, err := db.Pool.Query(ctx, `SELECT id, display_name, title, department FROM people
		WHERE id = ANY($1::uuid[]) ORDER BY sort_name, id`, ids)
	if err != nil {
		return 0, nil, fmt.Errorf("postgres: preview rule: %w", err)
	}
	if sample, err = pgx.CollectRows(rows, scanRef); err != nil {
		return 0, nil, fmt.Errorf("postgres: preview rule: %w", err)
	}
	return count, sample, nil
}

// RuleAttributes lists the attributes a rule may read, for the rule
// editor: the rows of the person attribute table, core attributes first.
func (db *DB) RuleAttributes(ctx context.Context) ([]portal.Attribute, error) {
	schema, err := loadSchema(ctx, db.Pool)
	if err != nil {
		return nil, fmt.Errorf("postgres: rule attributes: %w", err)
	}
	env, err := compiledRules.env(schema)
	if err != nil {
		return nil, fmt.Errorf("postgres: rule attributes: %w", err)
	}
	// The rule editor lists what the language reads: an extra attribute
	// named like a core one is not in it.
	fields := env.Fields()
	attrs := make([]portal.Attribute, len(fields))
	for i, f := range fields {
		a, _ := schema.schema.Lookup(f.Name)
		attrs[i] = *a
	}
	return attrs, nil
}

// Sets

const setColumns = "id, name, description, rule, created_at, updated_at"

func scanSet(row pgx.CollectableRow) (portal.Set, error) {
	var s portal.Set
	return s, row.Scan(&s.ID, &s.Name, &s.Description, &s.Rule, &s.CreatedAt, &s.UpdatedAt)
}

// normalizeSet trims a set's fields, checks their lengths and compiles its
// rule against the schema.
func normalizeSet(ctx context.Context, q dynQuerier, s *portal.Set) error {
	s.Name, s.Description, s.Rule = strings.TrimSpace(s.Name), strings.TrimSpace(s.Description), strings.TrimSpace(s.Rule)
	if n := utf8.RuneCountInString(s.Name); n == 0 || n > 128 {
		return portal.Errorf(portal.EINVALID, "A set needs a name of 1 to 128 characters.")
	}
	if utf8.RuneCountInString(s.Description) > 1024 {
		return portal.Errorf(portal.EINVALID, "A set's description can have at most 1,024 characters.")
	}
	_, err := compileRule(ctx, q, s.Rule)
	return err
}

// CreateSet stores a new set after checking its rule. The caller has
// checked that v may do this.
func (db *DB) CreateSet(ctx context.Context, v portal.Viewer, s portal.Set) (portal.Set, error) {
	var saved portal.Set
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := normalizeSet(ctx, tx, &s); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "INSERT INTO sets (name, description, rule) VALUES ($1, $2, $3) RETURNING "+setColumns,
			s.Name, s.Description, s.Rule)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanSet); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "set_created", "set", saved.ID, map[string]any{"name": saved.Name, "rule": saved.Rule})
	})
	if err != nil {
		// The message names the set as given, not the empty one the
		// failed insert left.
		return portal.Set{}, setError("create set", s.Name, err)
	}
	return saved, nil
}

// UpdateSet changes a set's name, description and rule.
func (db *DB) UpdateSet(ctx context.Context, v portal.Viewer, s portal.Set) (portal.Set, error) {
	if !validID(s.ID) {
		return portal.Set{}, portal.Errorf(portal.ENOTFOUND, "There is no such set.")
	}
	var saved portal.Set
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if err := normalizeSet(ctx, tx, &s); err != nil {
			return err
		}
		// The set as it was, for the audit entry's old values.
		rows, err := tx.Query(ctx, `SELECT `+setColumns+` FROM sets WHERE id = $1 FOR UPDATE`, s.ID)
		if err != nil {
			return err
		}
		before, err := pgx.CollectExactlyOneRow(rows, scanSet)
		if isNoRows(err) {
			return portal.Errorf(portal.ENOTFOUND, "There is no such set.")
		} else if err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `UPDATE sets SET name = $2, description = $3, rule = $4, updated_at = now()
			WHERE id = $1 RETURNING `+setColumns, s.ID, s.Name, s.Description, s.Rule)
		if err != nil {
			return err
		}
		if saved, err = pgx.CollectExactlyOneRow(rows, scanSet); isNoRows(err) {
			return portal.Errorf(portal.ENOTFOUND, "There is no such set.")
		} else if err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "set_updated", "set", saved.ID, changeDetails(
			map[string]any{"name": before.Name, "description": before.Description, "rule": before.Rule},
			map[string]any{"name": saved.Name, "description": saved.Description, "rule": saved.Rule}))
	})
	if err != nil {
		return portal.Set{}, setError("update set", s.Name, err)
	}
	return saved, nil
}

func setError(op, name string, err error) error {
	switch {
	case err == nil:
		return nil
	case isUniqueViolation(err):
		return portal.Errorf(portal.ECONFLICT, "There is already a set named %q.", name)
	case portal.ErrorCode(err) != portal.EINTERNAL:
		return err
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// ListSets returns every set by name.
func (db *DB) ListSets(ctx context.Context) ([]portal.Set, error) {
	rows, err := db.Pool.Query(ctx, "SELECT "+setColumns+" FROM sets ORDER BY lower(name), id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list sets: %w", err)
	}
	sets, err := pgx.CollectRows(rows, scanSet)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sets: %w", err)
	}
	return sets, nil
}

// FindSet returns one set.
func (db *DB) FindSet(ctx context.Context, id string) (portal.Set, error) {
	if !validID(id) {
		return portal.Set{}, portal.Errorf(portal.ENOTFOUND, "There is no such set.")
	}
	rows, err := db.Pool.Query(ctx, "SELECT "+setColumns+" FROM sets WHERE id = $1", id)
	if err != nil {
		return portal.Set{}, fmt.Errorf("postgres: find set: %w", err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSet)
	if isNoRows(err) {
		return s, portal.Errorf(portal.ENOTFOUND, "There is no such set.")
	} else if err != nil {
		return s, fmt.Errorf("postgres: find set: %w", err)
	}
	return s, nil
}

// SetContains reports whether the set's rule selects the person. A rule
// that fails for this person (or no longer compiles) gives false and the
// EINVALID error that says why, so that a policy never grants by mistake.
func (db *DB) SetContains(ctx context.Context, setID, personID string) (bool, error) {
	if !validID(setID) {
		return false, portal.Errorf(portal.ENOTFOUND, "There is no such set.")
	}
	if !validID(personID) {
		return false, portal.Errorf(portal.ENOTFOUND, "There is no such person.")
	}
	var (
		schema ruleSchema
		src    string
		p      portal.Person
	)
	b := &pgx.Batch{}
	b.Queue(selectSchema).Query(func(rows pgx.Rows) error {
		attrs, err := pgx.CollectRows(rows, scanAttribute)
		schema = newRuleSchema(attrs)
		return err
	})
	b.Queue("SELECT rule FROM sets WHERE id = $1", setID).QueryRow(func(row pgx.Row) error {
		if err := row.Scan(&src); isNoRows(err) {
			return portal.Errorf(portal.ENOTFOUND, "There is no such set.")
		} else if err != nil {
			return err
		}
		return nil
	})
	b.Queue(`SELECT `+personColumns+`, (SELECT coalesce(jsonb_object_agg(k, v), '{}') FROM jsonb_each_text(p.extra) e(k, v))
		FROM people p WHERE p.id = $1`, personID).QueryRow(func(row pgx.Row) error {
		if err := scanPerson(row, &p, &p.Extra); isNoRows(err) {
			return portal.Errorf(portal.ENOTFOUND, "There is no such person.")
		} else if err != nil {
			return err
		}
		return nil
	})
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return false, err
		}
		return false, fmt.Errorf("postgres: set contains: %w", err)
	}
	r, err := compiledRules.compile(schema, src)
	if err != nil {
		return false, err
	}
	return r.Match(&p)
}

// lockGroupRule takes the dynamic-groups lock exclusively, locks the group's
// row and returns its membership rule (nil for a static group).
func lockGroupRule(ctx context.Context, tx pgx.Tx, groupID string) (*string, error) {
	if _, err := tx.Exec(ctx, lockDynamicExclusive, dynLockClass, dynLockID); err != nil {
		return nil, err
	}
	var rule *string
	err := tx.QueryRow(ctx, "SELECT membership_rule FROM groups WHERE id = $1 FOR NO KEY UPDATE", groupID).Scan(&rule)
	if isNoRows(err) {
		return nil, portal.Errorf(portal.ENOTFOUND, "There is no such group.")
	}
	return rule, err
}
