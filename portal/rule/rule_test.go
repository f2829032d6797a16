package rule_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/rule"
)

// schema is the demo schema plus one attribute of each remaining type.
var schema = portal.NewSchema(append([]portal.Attribute{
	{Name: "level", Label: "Level", Type: "int"},
	{Name: "contractor", Label: "Contractor", Type: "bool"},
}, demo.Attributes...))

func mustEnv(t testing.TB) *rule.Env {
	t.Helper()
	e, err := rule.NewEnv(schema)
	require.NoError(t, err)
	return e
}

func person() *portal.Person {
	return &portal.Person{
		AccountName: "zoe", EmployeeID: "E100001", GivenName: "Zoë", Surname: "D'Angelo",
		DisplayName: "Zoë D'Angelo", Email: "zoe@tessera.example", Title: "Senior Identity Engineer",
		Department: "IT", Office: "London", Phone: "+44 20 7946 0001", ManagerID: "6f1c1c7e-0000-4000-8000-000000000001",
		Enabled: true,
		Extra: map[string]string{"costCenter": "CC-FIN-07", "startDate": "2024-03-15", "pronouns": "she/her",
			"level": "4", "contractor": "false"},
	}
}

func TestCompileValid(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	tests := []struct {
		src   string
		want  bool
		attrs []string
	}{
		{`person.department == "IT"`, true, []string{"department"}},
		{`person.department == "Finance"`, false, []string{"department"}},
		{`person.title.startsWith("Senior")`, true, []string{"title"}},
		{`person.office in ["London", "Dublin"] && person.enabled`, true, []string{"enabled", "office"}},
		{`person.costCenter.startsWith("CC-FIN")`, true, []string{"costCenter"}},
		{`person.startDate >= date("2024-01-01")`, true, []string{"startDate"}},
		{`person.startDate < timestamp("2024-03-15T00:00:00Z")`, false, []string{"startDate"}},
		{`person.startDate.getFullYear() == 2024`, true, []string{"startDate"}},
		{`person.level >= 3 && !person.contractor`, true, []string{"contractor", "level"}},
		{`has(person.pronouns) && person.pronouns == "she/her"`, true, []string{"pronouns"}},
		{`!has(person.mobile)`, true, []string{"mobile"}},
		{`person.title.lowerAscii().contains("identity")`, true, []string{"title"}},
		{`person.email.endsWith("@tessera.example")`, true, []string{"email"}},
		{`person.title.matches("^Senior .*Engineer$")`, true, []string{"title"}},
		{"person.department == \"IT\"\n  && person.office != \"Zürich\"", true, []string{"department", "office"}},
		{`person.managerId == "6f1c1c7e-0000-4000-8000-000000000001"`, true, []string{"managerId"}},
		{`[person.givenName, person.surname].exists(n, n.startsWith("D'"))`, true, []string{"givenName", "surname"}},
		{`size(person.accountName) <= 3 && person.employeeId.startsWith("E1")`, true, []string{"accountName", "employeeId"}},
		{`person.displayName != "" && person.phone.startsWith("+44")`, true, []string{"displayName", "phone"}},
		{`true`, true, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			r, err := e.Compile(tt.src)
			require.NoError(t, err)
			require.Equal(t, tt.src, r.String())
			require.Equal(t, tt.attrs, r.Attributes())
			require.LessOrEqual(t, r.Cost(), uint64(rule.MaxCost))
			got, err := r.Match(person())
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCompileInvalid(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	big := "[" + strings.Repeat("1,", 40) + "1]"
	tests := []struct {
		name, src string
		message   []string // fragments the message must contain
	}{
		{"empty", "", []string{"empty"}},
		{"blank", " \n\t", []string{"empty"}},
		{"too long", `person.title == "` + strings.Repeat("x", rule.MaxLength) + `"`, []string{"too long", "4096"}},
		{"not utf-8", "person.title == \"\xff\"", []string{"not valid text"}},
		{"syntax", `(person.department == "IT"`, []string{"line 1, column 27", "Syntax error"}},
		{"typo", `person.departmant == "IT"`, []string{"line 1, column 7", `no attribute "departmant"`, `did you mean "department"`}},
		{"typo on line 2", "person.enabled &&\n  person.ofice == \"London\"", []string{"line 2, column 9", `no attribute "ofice"`, `"office"`}},
		{"unknown extra", `person.shoeSize > 40`, []string{`no attribute "shoeSize"`}},
		{"bool vs string", `person.enabled == "yes"`, []string{"line 1, column 16", "==", "(bool, string)"}},
		{"int vs string", `person.level > "3"`, []string{">", "(int, string)"}},
		{"date vs string", `person.startDate > "2024-01-01"`, []string{">", "(timestamp, string)"}},
		{"string method on bool", `person.enabled.startsWith("t")`, []string{"startsWith"}},
		{"not bool", `person.title`, []string{"true or false", "a string"}},
		{"int result", `size(person.title)`, []string{"true or false", "an int"}},
		{"bare name", `department == "IT"`, []string{`unknown name "department"`, "person.department"}},
		{"misspelt variable", `persn.department == "IT"`, []string{`unknown name or function "persn"`}},
		{"person on its own", `person == person`, []string{"person.department", "not person on its own"}},
		{"person constructed", `Person{title: "x"}.title == "x"`, []string{"cannot create a Person"}},
		{"loop variable named person", `["a"].exists(person, person == "a")`, []string{"loop variable"}},
		{"bad date", `person.startDate > date("2024-02-30")`, []string{`date("2024-02-30") is not a date`}},
		{"bad regex", `person.title.matches("(")`, []string{"not a valid regular expression"}},
		{"bad timestamp", `person.startDate > timestamp("yesterday")`, []string{"timestamp"}},
		{"mixed list", `person.title in ["a", 1]`, []string{"line 1"}},
		{"too costly", big + ".all(x, " + big + ".all(y, " + big + ".all(z, x + y + z > 0)))", []string{"too costly", "limit 10000"}},
		{"too deep", strings.Repeat("(", 200) + "true" + strings.Repeat(")", 200), []string{"nested too deeply"}},
		{"nested too deep", `[1].all(a, [1].all(b, [1].all(c, [1].all(d, a+b+c+d > 0))))`, []string{"nested more than 3 deep"}},
		{"unknown function", `person.title.shout()`, []string{"shout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := e.Compile(tt.src)
			require.Error(t, err)
			require.Nil(t, r)
			require.Equal(t, portal.EINVALID, portal.ErrorCode(err), err.Error())
			msg := portal.ErrorMessage(err)
			for _, m := range tt.message {
				require.Contains(t, msg, m)
			}
		})
	}
}

func TestMatchMissingAttributes(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	bare := &portal.Person{DisplayName: "Nobody", Extra: map[string]string{"level": "many", "startDate": "soon"}}
	tests := []struct {
		src  string
		want bool
	}{
		{`person.costCenter == ""`, true},
		{`has(person.costCenter)`, false},
		{`person.level == 0 && !has(person.level)`, true},
		{`person.contractor == false && !has(person.contractor)`, true},
		{`person.startDate == timestamp("0001-01-01T00:00:00Z") && !has(person.startDate)`, true},
		{`person.startDate < date("1900-01-01")`, true},
		{`person.enabled`, false},
		{`has(person.enabled)`, true},
		{`has(person.title)`, false},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			r, err := e.Compile(tt.src)
			require.NoError(t, err)
			got, err := r.Match(bare)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestMatchRuntimeError(t *testing.T) {
	t.Parallel()
	r, err := rule.Compile(`person.costCenter.split("-")[2] == "07"`, schema)
	require.NoError(t, err)
	ok, err := r.Match(person())
	require.NoError(t, err)
	require.True(t, ok)

	ok, err = r.Match(&portal.Person{DisplayName: "Ana Costa"})
	require.False(t, ok)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "Ana Costa")
}

func TestMatchRuntimeCostLimit(t *testing.T) {
	t.Parallel()
	// The estimate assumes extra strings of at most 1,024 characters; the
	// database does not bound them, so evaluation is metered too.
	r, err := rule.Compile(`person.costCenter.lowerAscii().contains("cc-fin")`, schema)
	require.NoError(t, err)
	p := person()
	ok, err := r.Match(p)
	require.NoError(t, err)
	require.True(t, ok)

	p.Extra["costCenter"] = strings.Repeat("x", 1_000_000)
	ok, err = r.Match(p)
	require.False(t, ok)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "cost limit")
}

func TestNewEnvSchema(t *testing.T) {
	t.Parallel()
	// An extra attribute named like a core one keeps the core meaning.
	e, err := rule.NewEnv(portal.NewSchema([]portal.Attribute{{Name: "department", Type: "int"}, {Name: "badge", Type: "string"}}))
	require.NoError(t, err)
	fields := e.Fields()
	require.Contains(t, fields, rule.Field{Name: "department", Type: "string"})
	require.NotContains(t, fields, rule.Field{Name: "department", Type: "int"})
	require.Equal(t, rule.Field{Name: "badge", Type: "string"}, fields[len(fields)-1])
	_, err = e.Compile(`person.badge == "x" && person.department == "IT"`)
	require.NoError(t, err)

	_, err = rule.NewEnv(portal.NewSchema([]portal.Attribute{{Name: "height", Type: "float"}}))
	require.Error(t, err)
}

func TestRuleConcurrentUse(t *testing.T) {
	t.Parallel()
	r, err := rule.Compile(`person.office in ["London", "Dublin"] && person.enabled`, schema)
	require.NoError(t, err)
	done := make(chan bool)
	for i := range 8 {
		go func() {
			p := person()
			if i%2 == 1 {
				p.Office = "Zürich"
			}
			for range 1000 {
				ok, err := r.Match(p)
				if err != nil || ok != (i%2 == 0) {
					done <- false
					return
				}
			}
			done <- true
		}()
	}
	for range 8 {
		require.True(t, <-done)
	}
}

func BenchmarkMatch(b *testing.B) {
	e := mustEnv(b)
	p := person()
	for _, src := range []string{
		`person.department == "Finance" || person.office == "Zürich"`,
		`person.office in ["London", "Dublin"] && person.enabled`,
		`person.startDate >= date("2024-01-01")`,
	} {
		r, err := e.Compile(src)
		require.NoError(b, err)
		b.Run(src, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Match(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The rule language declares exactly the attributes of the person
// attribute table, each with its type (a reference reads as text).
func TestEnvDeclaresSchema(t *testing.T) {
	t.Parallel()
	e := mustEnv(t)
	var want []rule.Field
	for _, a := range schema.All() {
		typ := a.Type
		if typ == portal.TypeReference {
			typ = rule.TypeString
		}
		want = append(want, rule.Field{Name: a.Name, Type: typ})
		_, err := e.Compile("has(person." + a.Name + ")")
		require.NoError(t, err, a.Name)
	}
	require.Equal(t, want, e.Fields())
	p := person()
	for _, a := range portal.CoreSchema().All() {
		if a.Type != portal.TypeString {
			continue
		}
		r, err := e.CompileFlow("person." + a.Name)
		require.NoError(t, err)
		v, err := r.Values(p)
		require.NoError(t, err)
		require.Equal(t, a.Text(p), strings.Join(v, ""), "a rule reads %s from the table's field", a.Name)
	}
}
