package rule_test

import (
	"testing"

	"github.com/tessera-idm/tessera/portal"
)

// FuzzCompile checks that no text makes Compile panic, and that every
// refusal is an EINVALID error with a message for the administrator.
func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		`person.department == "IT"`,
		`person.title.startsWith("Senior")`,
		`person.office in ["London", "Dublin"] && person.enabled`,
		`person.costCenter.startsWith("CC-FIN")`,
		`person.startDate >= date("2024-01-01")`,
		`has(person.pronouns) ? person.pronouns == "they/them" : false`,
		`person.title.matches("^(Senior|Lead) ")`,
		`[1, 2, 3].all(x, [4, 5].exists(y, x < y))`,
		`person.departmant == "IT"`,
		`person.enabled == "yes"`,
		`(((person.title`,
		`"\u00e9" + person.title == "x"`,
		`person.level / 0 == 1`,
		`b"\xff" == b"x"`,
		"",
	} {
		f.Add(seed)
	}
	e := mustEnv(f)
	p := person()
	f.Fuzz(func(t *testing.T, src string) {
		r, err := e.Compile(src)
		if err != nil {
			if portal.ErrorCode(err) != portal.EINVALID || portal.ErrorMessage(err) == "" {
				t.Fatalf("Compile(%q): want an EINVALID error with a message, got %v", src, err)
			}
			return
		}
		if _, err := r.Match(p); err != nil && (portal.ErrorCode(err) != portal.EINVALID || portal.ErrorMessage(err) == "") {
			t.Fatalf("Match(%q): want an EINVALID error with a message, got %v", src, err)
		}
	})
}
