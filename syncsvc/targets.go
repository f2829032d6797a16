package syncsvc

import (
	"github.com/tessera-idm/tessera/portal"
)

// TargetAttribute is what an attribute of a connected system holds, as far
// as an outbound flow is concerned.
type TargetAttribute struct {
	// Name is the attribute as the system spells it.
	Name string
	// Multi: the attribute holds several values (a collection).
	Multi bool
	// MaxValues is the most values the system takes (0: no limit known).
	MaxValues int
	// ReadOnly: the system refuses writes to it; flows may only read it.
	ReadOnly bool
}

// TargetSchema says what the attribute called name of objects of class
// holds in a system of one type; ok is false for an attribute that
// Tessera cannot write there.
type TargetSchema func(class ObjectClass, name string) (a TargetAttribute, ok bool)

// checkTargets refuses outbound user flows that the system's schema says
// cannot work: to an attribute it does not have or that is read-only, a
// list to an attribute of one value, a list to a collection that takes
// one value.
//
// The schema is fixed, the one the engine was given for the system's type
// (Engine.TargetSchemas), or else the one the system's own schema gave
// when its limits were last read (stored): a system read neither way is
// not checked.
func checkTargets(sys *portal.ConnectedSystem, c *compiledRule, fixed, stored TargetSchema) error {
	schema := stored
	if fixed != nil {
		schema = fixed
	}
	if schema == nil || c.Class != ObjectUser {
		return nil
	}
	for i, f := range c.Outbound {
		what := portal.Textf("Outbound flow %d (%s)", i+1, f.CS)
		t, ok := schema(c.Class, f.CS)
		switch {
		case !ok:
			return portal.Errorf(portal.EINVALID, "%s: %s has no attribute %s that Tessera writes.", what, sys.Name, f.CS)
		case t.ReadOnly:
			return portal.Errorf(portal.EINVALID, "%s: %s is read-only in %s; a flow can read it (inbound) but not write it.",
				what, t.Name, sys.Name)
		case c.outRef[i] != nil:
			// A reference gives one DN.
		case c.outPerson[i].GivesList() && !t.Multi:
			return portal.Errorf(portal.EINVALID,
				"%s: %s holds one value in %s, and %s may give several; join them (%s.join(\", \")) or pick one.",
				what, t.Name, sys.Name, f.Expr, f.Expr)
		case c.outPerson[i].GivesList() && t.MaxValues == 1:
			return portal.Errorf(portal.EINVALID,
				"%s: %s takes only one value in %s, and %s may give several; map an attribute of one value.",
				what, t.Name, sys.Name, f.Expr)
		}
	}
	return nil
}
