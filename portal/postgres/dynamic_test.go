package postgres_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/portal/rule"
)

// dynamicFixture is a seeded store with one static group to make dynamic.
type dynamicFixture struct {
	ctx   context.Context
	db    *postgres.DB
	org   *demo.Org
	admin portal.Viewer
	group string // "Book club", static, with members picked at random
}

func setupDynamic(t *testing.T) *dynamicFixture {
	t.Helper()
	db, org := setup(t)
	f := &dynamicFixture{ctx: context.Background(), db: db, org: org,
		admin: portal.Viewer{PersonID: org.Accounts[3].PersonID, DisplayName: "Ada", Roles: []portal.Role{portal.RoleAdmin}}}
	for _, g := range org.Groups {
		if g.DisplayName == "Book club" {
			f.group = g.ID
		}
	}
	require.NotEmpty(t, f.group)
	return f
}

// members returns the group's member IDs, sorted, and whether each row is
// computed.
func (f *dynamicFixture) members(t *testing.T, groupID string) ([]string, []bool) {
	t.Helper()
	rows, err := f.db.Pool.Query(f.ctx, "SELECT person_id::text, computed FROM group_members WHERE group_id = $1 ORDER BY person_id", groupID)
	require.NoError(t, err)
	var ids []string
	var computed []bool
	var id string
	var c bool
	_, err = pgx.ForEachRow(rows, []any{&id, &c}, func() error {
		ids, computed = append(ids, id), append(computed, c)
		return nil
	})
	require.NoError(t, err)
	return ids, computed
}

// want returns the IDs of the people a SQL condition selects, sorted.
func (f *dynamicFixture) want(t *testing.T, where string, args ...any) []string {
	t.Helper()
	rows, err := f.db.Pool.Query(f.ctx, "SELECT id::text FROM people WHERE "+where+" ORDER BY id", args...)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return ids
}

func (f *dynamicFixture) isMember(t *testing.T, groupID, personID string) bool {
	t.Helper()
	var in bool
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND person_id = $2)",
		groupID, personID).Scan(&in))
	return in
}

func (f *dynamicFixture) auditCount(t *testing.T, action, targetID string) int {
	t.Helper()
	var n int
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, "SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2",
		action, targetID).Scan(&n))
	return n
}

func TestDynamicGroupSaveRule(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	before, _ := f.members(t, f.group)
	require.NotEmpty(t, before)

	require.NoError(t, f.db.SaveDynamicRule(f.ctx, f.admin, f.group, ` person.department == "IT" && person.enabled `))

	got, computed := f.members(t, f.group)
	want := f.want(t, "department = 'IT' AND account_enabled")
	require.NotEmpty(t, want)
	require.Equal(t, want, got, "the members are exactly the people the rule selects")
	require.NotContains(t, computed, false, "every member of a dynamic group is computed")

	var stored string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, "SELECT membership_rule FROM groups WHERE id = $1", f.group).Scan(&stored))
	require.Equal(t, `person.department == "IT" && person.enabled`, stored)
	require.Equal(t, 1, f.auditCount(t, "group_rule_saved", f.group))

	// A new rule replaces the members; extra attributes work too.
	require.NoError(t, f.db.SaveDynamicRule(f.ctx, f.admin, f.group, `person.costCenter.startsWith("CC-FIN")`))
	got, _ = f.members(t, f.group)
	require.Equal(t, f.want(t, "extra->>'costCenter' LIKE 'CC-FIN%'"), got)

	// The longest rule fits, however poorly it compresses.
	rng := rand.New(rand.NewPCG(1, 2))
	long := `person.title == "`
	for len(long) < rule.MaxLength-40 {
		long += string(rune('a' + rng.IntN(26)))
	}
	long += `" || person.department == "Legal"`
	require.NoError(t, f.db.SaveDynamicRule(f.ctx, f.admin, f.org.Groups[1].ID, long))

	// The group page reads computed members like any others.
	d, err := f.db.FindGroup(f.ctx, f.group, 0, 10)
	require.NoError(t, err)
	require.Equal(t, len(got), d.Group.MemberCount)
}

func TestDynamicGroupInvalidRule(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	before, _ := f.members(t, f.group)

	tests := []struct {
		name, src string
		message   []string
	}{
		{"typo", `person.departmant == "IT"`, []string{"line 1, column 7", `"departmant"`, `did you mean "department"`}},
		{"wrong type", `person.enabled == "yes"`, []string{"(bool, string)"}},
		{"not bool", `person.title`, []string{"true or false"}},
		{"empty", "  ", []string{"empty"}},
		// It compiles but fails for people without a third part.
		{"fails for someone", `person.title.split(" ")[2] == "Engineer"`, []string{"The rule fails for"}},
	}
	for _, tt := range tests {
		err := f.db.SaveDynamicRule(f.ctx, f.admin, f.group, tt.src)
		require.Equal(t, portal.EINVALID, portal.ErrorCode(err), "%s: %v", tt.name, err)
		for _, m := range tt.message {
			require.Contains(t, portal.ErrorMessage(err), m, tt.name)
		}
	}

	var stored *string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, "SELECT membership_rule FROM groups WHERE id = $1", f.group).Scan(&stored))
	require.Nil(t, stored, "nothing is stored")
	after, computed := f.members(t, f.group)
	require.Equal(t, before, after)
	require.NotContains(t, computed, true)
	require.Zero(t, f.auditCount(t, "group_rule_saved", f.group))

	err := f.db.SaveDynamicRule(f.ctx, f.admin, "00000000-0000-4000-8000-000000000000", `person.enabled`)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	err = f.db.SaveDynamicRule(f.ctx, f.admin, "not-a-uuid", `person.enabled`)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
}

func TestDynamicGroupRecomputePerson(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	require.NoError(t, f.db.SaveDynamicRule(f.ctx, f.admin, f.group, `person.office == "Dublin" || person.pronouns == "ze/zir"`))
	var mover string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, "SELECT id FROM people WHERE office = 'London' ORDER BY id LIMIT 1").Scan(&mover))
	require.False(t, f.isMember(t, f.group, mover))

	// Moving to Dublin joins the group...
	_, err := f.db.Pool.Exec(f.ctx, "UPDATE people SET office = 'Dublin' WHERE id = $1", mover)
	require.NoError(t, err)
	require.NoError(t, f.db.RecomputePerson(f.ctx, mover))
	require.True(t, f.isMember(t, f.group, mover))
	require.Equal(t, 1, f.auditCount(t, "dynamic_membership_changed", mover))

	// ...recomputing again changes nothing...
	require.NoError(t, f.db.RecomputePerson(f.ctx, mover))
	require.Equal(t, 1, f.auditCount(t, "dynamic_membership_changed", mover))

	// ...moving away leaves it, and an extra attribute brings them back.
	_, err = f.db.Pool.Exec(f.ctx, "UPDATE people SET office = 'London' WHERE id = $1", mover)
	require.NoError(t, err)
	require.NoError(t, f.db.RecomputePerson(f.ctx, mover))
	require.False(t, f.isMember(t, f.group, mover))
	_, err = f.db.Pool.Exec(f.ctx, `UPDATE people SET extra = extra || '{"pronouns": "ze/zir"}' WHERE id = $1`, mover)
	require.NoError(t, err)
	require.NoError(t, f.db.RecomputePerson(f.ctx, mover))
	require.True(t, f.isMember(t, f.group, mover))

	// A group whose rule no longer compiles (the schema changed under it)
	// is left alone, and the others are still recomputed.
	var broken string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, `INSERT INTO groups (name, display_name, group_type, join_policy, membership_rule)
		VALUES ('broken', 'Broken', 'security', 'closed', 'person.shoeSize > 40') RETURNING id`).Scan(&broken))
	_, err = f.db.Pool.Exec(f.ctx, `UPDATE people SET extra = extra - 'pronouns' WHERE id = $1`, mover)
	require.NoError(t, err)
	require.NoError(t, f.db.RecomputePerson(f.ctx, mover))
	require.False(t, f.isMember(t, f.group, mover))
	require.False(t, f.isMember(t, broken, mover))

	// A rule changed by another process, straight in the database, is
	// seen at once: the rules kept in memory follow dynamic_rules.version.
	other := postgres.New(f.db.Pool)
	require.NoError(t, other.SaveDynamicRule(f.ctx, f.admin, f.group, `person.office == "London"`))
	require.NoError(t, f.db.RecomputePerson(f.ctx, mover))
	require.True(t, f.isMember(t, f.group, mover), "the new rule selects London")
	_, err = f.db.Pool.Exec(f.ctx, `UPDATE groups SET membership_rule = 'person.office == "Dublin"' WHERE id = $1`, f.group)
	require.NoError(t, err)
	require.NoError(t, f.db.RecomputePerson(f.ctx, mover))
	require.False(t, f.isMember(t, f.group, mover), "the rule set by SQL is seen")

	// Static groups are untouched.
	var static string
	require.NoError(t, f.db.Pool.QueryRow(f.ctx, `SELECT id FROM groups WHERE membership_rule IS NULL
		AND NOT EXISTS (SELECT 1 FROM group_members WHERE group_id = groups.id AND person_id = $1) LIMIT 1`, mover).Scan(&static))
	require.NoError(t, f.db.RecomputePerson(f.ctx, mover))
	require.False(t, f.isMember(t, static, mover))

	err = f.db.RecomputePerson(f.ctx, "00000000-0000-4000-8000-000000000000")
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
}

func TestDynamicGroupRecomputePersonTx(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	require.NoError(t, f.db.SaveDynamicRule(f.ctx, f.admin, f.group, `person.title.startsWith("Chief Dynamic")`))
	person := f.org.People[5].ID

	// The change and the memberships it implies commit together.
	err := pgx.BeginFunc(f.ctx, f.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(f.ctx, "UPDATE people SET title = 'Chief Dynamic Officer' WHERE id = $1", person); err != nil {
			return err
		}
		joined, left, err := f.db.RecomputePersonTx(f.ctx, tx, person)
		require.Equal(t, []string{f.group}, joined)
		require.Empty(t, left)
		return err
	})
	require.NoError(t, err)
	require.True(t, f.isMember(t, f.group, person))
}

func TestDynamicGroupRecompute(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	require.NoError(t, f.db.SaveDynamicRule(f.ctx, f.admin, f.group, `person.office == "Dublin"`))
	added, removed, err := f.db.RecomputeGroup(f.ctx, f.group)
	require.NoError(t, err)
	require.Zero(t, added+removed, "nothing changed since the rule was saved")

	// People change behind the portal's back (say, a bulk import); a full
	// recompute catches up.
	tag, err := f.db.Pool.Exec(f.ctx, "UPDATE people SET office = 'Dublin' WHERE department = 'Legal' AND office <> 'Dublin'")
	require.NoError(t, err)
	left, err := f.db.Pool.Exec(f.ctx, `UPDATE people SET office = 'Auckland'
		WHERE id IN (SELECT id FROM people WHERE office = 'Dublin' AND department <> 'Legal' ORDER BY id LIMIT 3)`)
	require.NoError(t, err)
	added, removed, err = f.db.RecomputeGroup(f.ctx, f.group)
	require.NoError(t, err)
	require.Equal(t, int(tag.RowsAffected()), added)
	require.Equal(t, int(left.RowsAffected()), removed)
	got, _ := f.members(t, f.group)
	require.Equal(t, f.want(t, "office = 'Dublin'"), got)
	require.Equal(t, 1, f.auditCount(t, "group_recomputed", f.group))

	// A static group has no rule to recompute.
	static := f.org.Groups[0].ID
	_, _, err = f.db.RecomputeGroup(f.ctx, static)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	_, _, err = f.db.RecomputeGroup(f.ctx, "00000000-0000-4000-8000-000000000000")
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
}

func TestDynamicGroupClearRule(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	require.NoError(t, f.db.SaveDynamicRule(f.ctx, f.admin, f.group, `person.department == "Sales"`))
	dynamic, _ := f.members(t, f.group)

	require.NoError(t, f.db.ClearDynamicRule(f.ctx, f.admin, f.group))
	static, computed := f.members(t, f.group)
	require.Equal(t, dynamic, static, "the members stay")
	require.NotContains(t, computed, true, "as ordinary members")
	_, _, err := f.db.RecomputeGroup(f.ctx, f.group)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.NoError(t, f.db.ClearDynamicRule(f.ctx, f.admin, f.group), "clearing twice is harmless")
	require.Equal(t, 1, f.auditCount(t, "group_rule_cleared", f.group))
}

func TestPreviewRule(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	count, sample, err := f.db.PreviewRule(f.ctx, `person.department == "Finance" || person.office == "Zürich"`, 5)
	require.NoError(t, err)
	want := f.want(t, "department = 'Finance' OR office = 'Zürich'")
	require.Equal(t, len(want), count)
	require.Len(t, sample, 5)

	// The sample is the first matches by name, as the white pages sort.
	rows, err := f.db.Pool.Query(f.ctx, `SELECT id::text FROM people WHERE department = 'Finance' OR office = 'Zürich'
		ORDER BY sort_name, id LIMIT 5`)
	require.NoError(t, err)
	first, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var ids []string
	for _, r := range sample {
		ids = append(ids, r.ID)
		require.NotEmpty(t, r.DisplayName)
	}
	require.Equal(t, first, ids)

	count, sample, err = f.db.PreviewRule(f.ctx, `person.office == "Atlantis"`, 5)
	require.NoError(t, err)
	require.Zero(t, count)
	require.Empty(t, sample)

	_, _, err = f.db.PreviewRule(f.ctx, `person.ofice == "Dublin"`, 5)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), `did you mean "office"`)

	_, _, err = f.db.PreviewRule(f.ctx, `person.title.split(" ")[2] == "Engineer"`, 5)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "The rule fails for")

	// Previewing stores nothing.
	require.Zero(t, f.auditCount(t, "group_rule_saved", f.group))
}

func TestSets(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	finance, err := f.db.CreateSet(f.ctx, f.admin, portal.Set{Name: " Finance staff ", Description: "Everyone in Finance.",
		Rule: `person.department == "Finance"`})
	require.NoError(t, err)
	require.NotEmpty(t, finance.ID)
	require.Equal(t, "Finance staff", finance.Name)
	require.False(t, finance.CreatedAt.IsZero())
	require.Equal(t, 1, f.auditCount(t, "set_created", finance.ID))

	_, err = f.db.CreateSet(f.ctx, f.admin, portal.Set{Name: "FINANCE STAFF", Rule: `person.enabled`})
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err))
	require.Equal(t, `There is already a set named "FINANCE STAFF".`, portal.ErrorMessage(err))
	_, err = f.db.CreateSet(f.ctx, f.admin, portal.Set{Name: "Typos", Rule: `person.departmnet == "IT"`})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), `"departmnet"`)
	_, err = f.db.CreateSet(f.ctx, f.admin, portal.Set{Name: "", Rule: `person.enabled`})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))

	_, err = f.db.CreateSet(f.ctx, f.admin, portal.Set{Name: "All enabled", Rule: `person.enabled`})
	require.NoError(t, err)
	sets, err := f.db.ListSets(f.ctx)
	require.NoError(t, err)
	require.Len(t, sets, 2)
	require.Equal(t, "All enabled", sets[0].Name)

	found, err := f.db.FindSet(f.ctx, finance.ID)
	require.NoError(t, err)
	require.Equal(t, finance, found)
	_, err = f.db.FindSet(f.ctx, "00000000-0000-4000-8000-000000000000")
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))

	in := f.want(t, "department = 'Finance'")[0]
	out := f.want(t, "department = 'Sales'")[0]
	ok, err := f.db.SetContains(f.ctx, finance.ID, in)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = f.db.SetContains(f.ctx, finance.ID, out)
	require.NoError(t, err)
	require.False(t, ok)

	finance.Rule = `person.department in ["Finance", "Sales"]`
	updated, err := f.db.UpdateSet(f.ctx, f.admin, finance)
	require.NoError(t, err)
	require.True(t, updated.UpdatedAt.After(finance.UpdatedAt) || updated.UpdatedAt.Equal(finance.UpdatedAt))
	ok, err = f.db.SetContains(f.ctx, finance.ID, out)
	require.NoError(t, err)
	require.True(t, ok)

	finance.Rule = `person.department == 1`
	_, err = f.db.UpdateSet(f.ctx, f.admin, finance)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	found, err = f.db.FindSet(f.ctx, finance.ID)
	require.NoError(t, err)
	require.Equal(t, `person.department in ["Finance", "Sales"]`, found.Rule, "a refused update stores nothing")

	_, err = f.db.SetContains(f.ctx, "00000000-0000-4000-8000-000000000000", in)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	_, err = f.db.SetContains(f.ctx, finance.ID, "00000000-0000-4000-8000-000000000000")
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	_, err = f.db.UpdateSet(f.ctx, f.admin, portal.Set{ID: "00000000-0000-4000-8000-000000000000", Name: "x", Rule: "true"})
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
	renamed := sets[0]
	renamed.Name = "finance STAFF"
	_, err = f.db.UpdateSet(f.ctx, f.admin, renamed)
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err))
	require.Equal(t, `There is already a set named "finance STAFF".`, portal.ErrorMessage(err))
	require.True(t, slices.ContainsFunc(sets, func(s portal.Set) bool { return s.ID == finance.ID }))
}

func TestRuleAttributes(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	attrs, err := f.db.RuleAttributes(f.ctx)
	require.NoError(t, err)
	type row struct{ Name, Label, Type, Visibility string }
	var rows []row
	for _, a := range attrs {
		rows = append(rows, row{a.Name, a.Label, a.Type, string(a.Visibility)})
	}
	require.Equal(t, row{"accountName", "Account name", rule.TypeString, "helpdesk"}, rows[0], "core attributes first")
	require.Contains(t, rows, row{"enabled", "Account status", rule.TypeBool, "helpdesk"})
	require.Contains(t, rows, row{"managerId", "Manager", portal.TypeReference, "everyone"})
	require.Contains(t, rows, row{"pronouns", "Pronouns", rule.TypeString, "everyone"})
	require.Contains(t, rows, row{"startDate", "Start date", rule.TypeDate, "everyone"})
	require.Contains(t, rows, row{"costCenter", "Cost centre", rule.TypeString, "helpdesk"})
}

// A sync's people are re-evaluated together: each joins and leaves as
// alone, with an audit entry of their own, and an ID of nobody is skipped.
func TestDynamicGroupRecomputePeopleTx(t *testing.T) {
	t.Parallel()
	f := setupDynamic(t)
	require.NoError(t, f.db.SaveDynamicRule(f.ctx, f.admin, f.group, `person.title.startsWith("Chief Batch")`))
	joiners := []string{f.org.People[7].ID, f.org.People[8].ID, f.org.People[9].ID}
	leaver := f.org.People[10].ID
	_, err := f.db.Pool.Exec(f.ctx, "UPDATE people SET title = 'Chief Batch Officer' WHERE id = $1", leaver)
	require.NoError(t, err)
	require.NoError(t, f.db.RecomputePerson(f.ctx, leaver))
	require.True(t, f.isMember(t, f.group, leaver))

	err = pgx.BeginFunc(f.ctx, f.db.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(f.ctx, "UPDATE people SET title = 'Chief Batch Officer' WHERE id = ANY($1::text[]::uuid[])", joiners); err != nil {
			return err
		}
		if _, err := tx.Exec(f.ctx, "UPDATE people SET title = 'Clerk' WHERE id = $1", leaver); err != nil {
			return err
		}
		return f.db.RecomputePeopleTx(f.ctx, tx, append(slices.Clone(joiners), leaver, joiners[0], "00000000-0000-4000-8000-000000000000"))
	})
	require.NoError(t, err)
	for _, p := range joiners {
		require.True(t, f.isMember(t, f.group, p))
		require.Equal(t, 1, f.auditCount(t, "dynamic_membership_changed", p))
	}
	require.False(t, f.isMember(t, f.group, leaver))
	require.Equal(t, 2, f.auditCount(t, "dynamic_membership_changed", leaver), "joined alone, then left in the batch")
}
