package e2e_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// BenchmarkDynamicGroupFullRecompute times the full recompute of one
// dynamic group over 100,000 people, from no members to all of them (the
// worst case: every match is written), as when its rule is first saved.
func BenchmarkDynamicGroupFullRecompute(b *testing.B) {
	ctx := context.Background()
	pool := harness.Pool(b, harness.SeededDatabaseURL(b, benchPeople))
	db := postgres.New(pool)
	var groupID string
	require.NoError(b, pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy, membership_rule)
		VALUES ('finance-or-zurich', 'Finance or Zürich', 'security', 'closed',
		'person.department == "Finance" || person.office == "Zürich"') RETURNING id`).Scan(&groupID))
	empty := func() {
		_, err := pool.Exec(ctx, "DELETE FROM group_members WHERE group_id = $1", groupID)
		require.NoError(b, err)
		_, err = pool.Exec(ctx, "VACUUM ANALYZE group_members")
		require.NoError(b, err)
	}
	// Warm the people table into the cache, as on a live system.
	_, _, err := db.RecomputeGroup(ctx, groupID)
	require.NoError(b, err)

	var worst time.Duration
	var added int
	var runs []float64
	b.ResetTimer()
	for range benchRuns {
		b.StopTimer()
		empty()
		settle(b, pool)
		b.StartTimer()
		start := time.Now()
		a, removed, err := db.RecomputeGroup(ctx, groupID)
		d := time.Since(start)
		require.NoError(b, err)
		require.Zero(b, removed)
		added, worst = a, max(worst, d)
		runs = append(runs, ms(d))
	}
	b.StopTimer()
	want := 0
	require.NoError(b, pool.QueryRow(ctx, "SELECT count(*) FROM people WHERE department = 'Finance' OR office = 'Zürich'").Scan(&want))
	require.Equal(b, want, added)

	// The same recompute with nothing to change: evaluation alone.
	start := time.Now()
	a, r, err := db.RecomputeGroup(ctx, groupID)
	require.NoError(b, err)
	require.Zero(b, a+r)
	b.Logf("full recompute over %d people: %d members written in %.0f ms; unchanged %.0f ms",
		benchPeople, added, ms(worst), ms(time.Since(start)))
	b.ReportMetric(ms(worst), "ms")
	figure("dynamic_group_full_recompute_100k", runs, "ms", "<= 2000")
}

// dynamicRules returns n varied rules of the kinds administrators write:
// department and office, titles, cost centres, start dates, managers'
// reports, pronouns, mobile phones.
func dynamicRules(org *demo.Org, n int) []string {
	rng := rand.New(rand.NewPCG(5, 6))
	pick := func(ss []string) string { return ss[rng.IntN(len(ss))] }
	var depts, offices, titles []string
	for _, p := range org.People[:2000] {
		depts, offices = append(depts, p.Department), append(offices, p.Office)
		titles = append(titles, p.Title)
	}
	slices.Sort(depts)
	slices.Sort(offices)
	depts, offices = slices.Compact(depts), slices.Compact(offices)
	var rules []string
	for i := range n {
		var r string
		switch i % 10 {
		case 0:
			r = fmt.Sprintf("person.department == %q && person.office == %q", pick(depts), pick(offices))
		case 1:
			r = fmt.Sprintf("person.office in [%q, %q] && person.enabled", pick(offices), pick(offices))
		case 2:
			r = fmt.Sprintf("person.title.startsWith(%q)", pick(titles)[:5])
		case 3:
			r = fmt.Sprintf("person.costCenter == %q", org.People[rng.IntN(len(org.People))].Extra["costCenter"])
		case 4:
			r = fmt.Sprintf(`person.startDate >= date("%d-%02d-01") && person.department == %q`, 2000+rng.IntN(26), 1+rng.IntN(12), pick(depts))
		case 5:
			r = fmt.Sprintf("person.managerId == %q", org.People[rng.IntN(len(org.People)/8)].ID)
		case 6:
			r = fmt.Sprintf(`has(person.pronouns) && person.pronouns == "they/them" && person.office == %q`, pick(offices))
		case 7:
			r = fmt.Sprintf(`person.mobile != "" && person.department == %q && !person.title.contains("Manager")`, pick(depts))
		case 8:
			r = fmt.Sprintf(`person.title.lowerAscii().contains(%q) || person.costCenter.startsWith("CC-%s")`,
				"engineer", []string{"FIN", "SAL", "LEG", "OPE"}[rng.IntN(4)])
		case 9:
			r = fmt.Sprintf(`person.startDate.getFullYear() == %d && person.office != %q`, 2000+rng.IntN(26), pick(offices))
		}
		rules = append(rules, r)
	}
	return rules
}

// BenchmarkDynamicPersonReeval times re-evaluating every one of 500
// dynamic groups for a person whose office and title changed, and applying
// the joins and leaves, over 100,000 people.
func BenchmarkDynamicPersonReeval(b *testing.B) {
	const groups, changes = 500, 300
	ctx := context.Background()
	pool := harness.Pool(b, harness.SeededDatabaseURL(b, benchPeople))
	db := postgres.New(pool)
	org, err := demo.Generate(benchPeople)
	require.NoError(b, err)
	rules := dynamicRules(org, groups)
	var names []string
	for i := range rules {
		names = append(names, fmt.Sprintf("dynamic-%03d", i))
	}
	_, err = pool.Exec(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy, membership_rule)
		SELECT n, n, 'security', 'closed', r FROM unnest($1::text[], $2::text[]) AS t(n, r)`, names, rules)
	require.NoError(b, err)
	// Every rule must compile: preview one of each kind.
	for _, r := range rules[:10] {
		_, _, err := db.PreviewRule(ctx, r, 1)
		require.NoError(b, err, r)
	}

	rng := rand.New(rand.NewPCG(7, 8))
	people := make([]portal.Person, changes)
	for i := range people {
		people[i] = org.People[rng.IntN(len(org.People))]
	}
	// Bring the chosen people's dynamic memberships up to date (this also
	// compiles the rules into the process's cache).
	start := time.Now()
	require.NoError(b, db.RecomputePerson(ctx, people[0].ID))
	cold := time.Since(start)
	for _, p := range people {
		require.NoError(b, db.RecomputePerson(ctx, p.ID))
	}

	var times []time.Duration
	var p95s []float64
	settle(b, pool)
	// What each call costs, whatever else the machine runs: CPU by
	// program (this binary is the product here) and statements.
	cpu, cpuBefore, workBefore := map[string]usage{}, cpuByProgram(b), readDBWork(b, pool)
	b.ResetTimer()
	for run := range benchRuns {
		from := len(times)
		for i, p := range people {
			// The change: a move to another office with a new title,
			// another in each run, so that every run's moves join and
			// leave groups (the same moves again would change nothing
			// after the first run, and time only the rules).
			b.StopTimer()
			other := org.People[(i*7919+run*104729)%len(org.People)]
			_, err := pool.Exec(ctx, "UPDATE people SET office = $2, title = $3, updated_at = now() WHERE id = $1",
				p.ID, other.Office, other.Title)
			require.NoError(b, err)
			b.StartTimer()
			start := time.Now()
			require.NoError(b, db.RecomputePerson(ctx, p.ID))
			times = append(times, time.Since(start))
		}
		p95s = append(p95s, ms(percentile(times[from:], 95)))
		// The tail: a p95 over its target is one slow call in twenty.
		b.Logf("run %d: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms", run+1,
			ms(percentile(times[from:], 50)), ms(percentile(times[from:], 95)), ms(percentile(times[from:], 99)), ms(slices.Max(times[from:])))
	}
	b.StopTimer()
	addCPU(cpu, cpuBefore, cpuByProgram(b))
	// Less the benchmark's own UPDATE before each call.
	work := readDBWork(b, pool).since(workBefore, len(times))
	b.Logf("per call, with the UPDATE before it: %s CPU; %s (statements less that UPDATE)", cpuPer(cpu, len(times)), work.per(len(times)))
	work.logTop(b)
	var memberships int
	require.NoError(b, pool.QueryRow(ctx, `SELECT count(*) FROM group_members m JOIN groups g ON g.id = m.group_id
		WHERE g.membership_rule IS NOT NULL`).Scan(&memberships))
	require.Positive(b, memberships)
	p50, p95, p99 := percentile(times, 50), percentile(times, 95), percentile(times, 99)
	b.Logf("re-evaluating %d dynamic groups for one person, %d changes: p50 %.2f ms, p95 %.2f ms, p99 %.2f ms (first call, compiling the rules: %.1f ms)",
		groups, len(times), ms(p50), ms(p95), ms(p99), ms(cold))
	b.ReportMetric(ms(p95), "p95-ms")
	figure("dynamic_person_reeval_500_groups", p95s, "ms", "<= 5")
}
