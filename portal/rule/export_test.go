package rule

import "github.com/tessera-idm/tessera/portal"

// MatchPlain evaluates r for p as Match did before guards: the whole rule
// in CEL, with the meter when it reads an attribute of assumed length.
func (r *Rule) MatchPlain(p *portal.Person) (bool, error) { return r.eval(r.prg, p) }

// Guards counts the conjuncts of r that Go decides.
func (r *Rule) Guards() int { return len(r.guards) }
