package rule_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/rule"
)

// guardRules are rules of the kinds administrators write (the ten kinds of
// the dynamic groups benchmark) and of the shapes a guard must see
// through or leave alone: either side of ==, in [...] (empty too), has(),
// ||, !, ?:, conjuncts that fail at run time, and attributes of assumed
// length that may outgrow it.
func guardRules(org *demo.Org, rng *rand.Rand) []string {
	pick := func() *portal.Person { return &org.People[rng.IntN(len(org.People))] }
	var rules []string
	for range 30 {
		a, b := pick(), pick()
		rules = append(rules,
			fmt.Sprintf("person.department == %q && person.office == %q", a.Department, b.Office),
			fmt.Sprintf("person.office in [%q, %q] && person.enabled", a.Office, b.Office),
			fmt.Sprintf("person.title.startsWith(%q)", a.Title[:min(5, len(a.Title))]),
			fmt.Sprintf("person.costCenter == %q", a.Extra["costCenter"]),
			fmt.Sprintf(`person.startDate >= date("%d-%02d-01") && person.department == %q`, 2000+rng.IntN(26), 1+rng.IntN(12), b.Department),
			fmt.Sprintf("person.managerId == %q", a.ManagerID),
			fmt.Sprintf(`has(person.pronouns) && person.pronouns == "they/them" && person.office == %q`, a.Office),
			fmt.Sprintf(`person.mobile != "" && person.department == %q && !person.title.contains("Manager")`, a.Department),
			fmt.Sprintf(`person.title.lowerAscii().contains(%q) || person.costCenter.startsWith("CC-%s")`, "engineer", a.Department[:min(3, len(a.Department))]),
			fmt.Sprintf(`person.startDate.getFullYear() == %d && person.office != %q`, 2000+rng.IntN(26), a.Office),
			// Either side, in, and nested conjunctions.
			fmt.Sprintf("%q == person.office && (person.department == %q && person.enabled)", a.Office, a.Department),
			fmt.Sprintf("person.department in [%q] && person.title.startsWith(%q) && person.costCenter.startsWith(%q)",
				a.Department, b.Title[:min(3, len(b.Title))], a.Extra["costCenter"][:min(6, len(a.Extra["costCenter"]))]),
			// Left to CEL: under ||, !, ?: and !=.
			fmt.Sprintf("person.department == %q || person.office == %q", a.Department, b.Office),
			fmt.Sprintf("!(person.department == %q) && person.office == %q", a.Department, b.Office),
			fmt.Sprintf("person.office == %q ? person.department == %q : person.enabled", a.Office, b.Department),
			fmt.Sprintf("person.department != %q && person.skills.exists(s, s == %q)", a.Department, "Go"),
			fmt.Sprintf(`%q in person.skills && person.office == %q`, "Rust", a.Office),
			// A conjunct that fails for some people beside a guard: the
			// false guard decides, as in CEL.
			fmt.Sprintf("person.office == %q && [1, 2][person.level] == 2", a.Office),
			fmt.Sprintf("person.level / (person.level - 3) > 0 && person.department == %q", a.Department),
			// Metered: an extra text that may outgrow its assumed length.
			fmt.Sprintf(`person.costCenter.contains("FIN") && person.office == %q`, a.Office),
			fmt.Sprintf(`person.costCenter.lowerAscii().startsWith("cc-") && person.department == %q`, b.Department),
		)
	}
	return append(rules,
		`person.office in [] && person.enabled`,
		`person.pronouns == "" && person.office == "London"`,
		`person.title.startsWith("") && person.department == "IT"`,
		`has(person.pronouns)`,
		`true`,
	)
}

// TestGuardsDecideAsCEL checks that Match, which decides a rule by its
// guards when one is false, gives for every rule and person exactly what
// evaluating the whole rule in CEL gives: the same result and the same
// error.
func TestGuardsDecideAsCEL(t *testing.T) {
	t.Parallel()
	org, err := demo.Generate(2000)
	require.NoError(t, err)
	attrs := append(slices.Clone(demo.Attributes),
		portal.Attribute{Name: "level", Label: "Level", Type: portal.TypeInt},
		portal.Attribute{Name: "skills", Label: "Skills", Type: portal.TypeStrings})
	e, err := rule.NewEnv(portal.NewSchema(attrs))
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(1, 2))

	var rules []*rule.Rule
	guarded := 0
	for _, src := range guardRules(org, rng) {
		r, err := e.Compile(src)
		require.NoError(t, err, src)
		rules = append(rules, r)
		if r.Guards() > 0 {
			guarded++
		}
	}
	require.Greater(t, guarded, len(rules)/2, "most rules have guards")

	// The people, some of them changed to meet the rules' edges: moved
	// to another's office or department, attributes emptied, odd levels,
	// skills, and cost centres longer than a rule's estimate assumes.
	people := make([]portal.Person, 0, len(org.People))
	for i, p := range org.People {
		p.Extra = maps.Clone(p.Extra)
		if p.Extra == nil {
			p.Extra = map[string]string{}
		}
		o := &org.People[rng.IntN(len(org.People))]
		switch i % 8 {
		case 1:
			p.Office, p.Department = o.Office, o.Department
		case 2:
			p.Office, p.Department, p.Title, p.Mobile = "", "", "", ""
			delete(p.Extra, "pronouns")
			delete(p.Extra, "costCenter")
		case 3:
			// Long enough for contains to pass the cost limit, in a few.
			n := 2000
			if i%80 == 3 {
				n = 200_000
			}
			p.Extra["costCenter"] = "CC-FIN-" + strings.Repeat("x", n)
		case 4:
			p.Extra["pronouns"] = "they/them"
			p.Extra["skills"] = "Go\nRust"
		case 5:
			p.Enabled = !p.Enabled
		}
		p.Extra["level"] = fmt.Sprint(rng.IntN(5))
		people = append(people, p)
	}

	var matches, fails int
	for _, r := range rules {
		for i := range people {
			p := &people[i]
			got, gotErr := r.Match(p)
			want, wantErr := r.MatchPlain(p)
			require.Equal(t, want, got, "%s for %s (%s)", r, p.DisplayName, p.ID)
			if wantErr != nil {
				fails++
				require.EqualError(t, gotErr, wantErr.Error(), "%s for %s (%s)", r, p.DisplayName, p.ID)
			} else {
				require.NoError(t, gotErr, "%s for %s (%s)", r, p.DisplayName, p.ID)
			}
			if got {
				matches++
			}
		}
	}
	// The comparison covered both outcomes and failures.
	require.Positive(t, matches)
	require.Positive(t, fails)
}

// TestGuardsFound checks which conjuncts become guards.
func TestGuardsFound(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	for src, want := range map[string]int{
		`person.department == "IT"`:                                         1,
		`"IT" == person.department && person.office in ["a", "b"]`:          2,
		`person.title.startsWith("Sen") && person.enabled`:                  1,
		`person.costCenter == "CC-1" && (person.office == "a" && true)`:     2,
		`person.department == "IT" || person.office == "a"`:                 0,
		`!(person.department == "IT")`:                                      0,
		`person.department != "IT"`:                                         0,
		`has(person.pronouns) && person.level == 3`:                         0,
		`person.office in [person.department]`:                              0,
		`person.department == person.office`:                                0,
		`person.department == "IT" ? person.enabled : person.office == "a"`: 0,
	} {
		r, err := e.Compile(src)
		require.NoError(t, err, src)
		require.Equal(t, want, r.Guards(), src)
	}
}
