package syncsvc

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/rule"
)

// JoinRule joins a connector space object to a metaverse object when the
// object's attribute CS equals the metaverse attribute MV (ignoring case).
type JoinRule struct {
	CS string `json:"cs"`
	MV string `json:"mv"`
}

// InboundFlow sets the metaverse attribute MV from a connector space
// object: Expr reads the object as cs (cs.telephoneNumber). Of the systems
// that flow into one attribute, the lowest Precedence wins; equal
// precedence: the latest change wins.
type InboundFlow struct {
	MV         string `json:"mv"`
	Expr       string `json:"expr"`
	Precedence int    `json:"precedence"`
}

// OutboundFlow sets the connected system's attribute CS from the metaverse
// object: Expr reads a person as person, a group as group. InitialOnly
// flows are written when Tessera creates the object, never after.
type OutboundFlow struct {
	CS          string `json:"cs"`
	Expr        string `json:"expr"`
	InitialOnly bool   `json:"initial_only,omitempty"`
}

// Deprovisioning is what happens to an object that leaves the scope.
type Deprovisioning string

// The deprovisioning actions.
const (
	DeprovisionNone    Deprovisioning = "none"    // disconnect only
	DeprovisionDisable Deprovisioning = "disable" // disable, move to DeprovisionOU, delete after DeleteAfterDays
	DeprovisionDelete  Deprovisioning = "delete"
)

// SyncRule is how one class of objects of one connected system maps to the
// metaverse (MIM's sync rule, Entra Connect's sync rule).
type SyncRule struct {
	SystemID string
	Class    ObjectClass
	// Scope is a CEL condition on person (users) or group (groups); empty
	// takes every one.
	Scope      string
	JoinRules  []JoinRule
	Projection bool
	Inbound    []InboundFlow
	Outbound   []OutboundFlow
	// Provision creates objects in scope that join nothing, at DNTemplate:
	// {attribute} placeholders are replaced by the metaverse object's
	// values, escaped for a DN.
	Provision  bool
	DNTemplate string
	// InitialPassword is "none" (created without a password, disabled) or
	// "random" (a random password no one knows, never stored: the person
	// sets their own through password reset).
	InitialPassword string
	EnableOnCreate  bool
	Deprovision     Deprovisioning
	DeprovisionOU   string
	DeleteAfterDays int
	UpdatedAt       time.Time
	// SchemaError says why the rule, as saved, can no longer be exported:
	// the system's schema, read after it was saved, refuses it (zero:
	// nothing known against it). Saving it again clears it.
	SchemaError portal.Text
}

// Attributes of a group that group rules read as group.name and so on.
var groupFields = []string{"name", "displayName", "description", "email", "type", "join"}

// Limits of a sync rule.
const (
	MaxFlows     = 100
	MaxJoinRules = 10
)

var attrName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,63}$`)

// compiledRule is a SyncRule ready to evaluate.
type compiledRule struct {
	SyncRule
	personScope *rule.Rule
	groupScope  cel.Program
	outPerson   []*rule.Rule // users: one per Outbound
	// outRef is, per user Outbound flow, the reference attribute it copies
	// as it is (person.managerId), nil for other flows: such a flow writes
	// the referenced person's DN in the system, not their portal ID.
	outRef      []*portal.Attribute
	outGroup    []cel.Program  // groups: one per Outbound
	inbound     []cel.Program  // one per Inbound
	inboundKeys [][]string     // the cs attributes each inbound flow reads
	template    []templatePart // DNTemplate, parsed
	// The person attributes of the join rules and inbound flows (users),
	// looked up once here rather than for every person.
	joinAttrs    []*portal.Attribute
	inboundAttrs []*portal.Attribute
}

// templatePart is literal text, or a placeholder when Attr is set; a
// user's placeholder has its person attribute.
type templatePart struct {
	Text, Attr string
	attr       *portal.Attribute
}

// mapEnv is the CEL language of expressions over one map of strings,
// group or cs.
func mapEnv(name string) *cel.Env {
	env, err := cel.NewEnv(cel.Variable(name, cel.MapType(cel.StringType, cel.StringType)), ext.Strings(),
		cel.ParserRecursionLimit(64), cel.ParserExpressionSizeLimit(rule.MaxLength))
	if err != nil {
		panic(err)
	}
	return env
}

var (
	groupEnv = mapEnv("group")
	csEnv    = mapEnv("cs")
)

// compileMap compiles src in env; want is the result type.
func compileMap(env *cel.Env, src string, want *types.Type, what portal.Text) (prg cel.Program, keys []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			prg, err = nil, portal.Errorf(portal.EINVALID, "%s could not be read (%v).", what, p)
		}
	}()
	switch {
	case strings.TrimSpace(src) == "":
		return nil, nil, portal.Errorf(portal.EINVALID, "%s is empty.", what)
	case len(src) > rule.MaxLength || !utf8.ValidString(src):
		return nil, nil, portal.Errorf(portal.EINVALID, "%s is too long or not valid text.", what)
	}
	checked, iss := env.Compile(src)
	if iss.Err() != nil {
		return nil, nil, portal.Errorf(portal.EINVALID, "%s: %s", what, strings.TrimPrefix(iss.Err().Error(), "ERROR: "))
	}
	if !checked.OutputType().IsExactType(want) && !checked.OutputType().IsExactType(types.DynType) {
		return nil, nil, portal.Errorf(portal.EINVALID, "%s must give %s, not %s.", what, typeWord(want), typeWord(checked.OutputType()))
	}
	prg, err = env.Program(checked, cel.CostLimit(rule.MaxCost), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, nil, portal.Errorf(portal.EINVALID, "%s cannot be evaluated: %v", what, err)
	}
	for _, sel := range ast.MatchDescendants(ast.NavigateAST(checked.NativeRep()), ast.KindMatcher(ast.SelectKind)) {
		s := sel.AsSelect()
		if s.Operand().Kind() == ast.IdentKind {
			keys = append(keys, s.FieldName())
		}
	}
	slices.Sort(keys)
	return prg, slices.Compact(keys), nil
}

func typeWord(t *types.Type) string {
	switch {
	case t.IsExactType(types.StringType):
		return "text"
	case t.IsExactType(types.BoolType):
		return "true or false"
	}
	return t.String()
}

// evalMap evaluates prg with m as its variable name; keys missing from m
// read as "".
func evalMap(prg cel.Program, name string, m map[string]string, keys []string) (any, error) {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			m[k] = ""
		}
	}
	out, _, err := prg.Eval(map[string]any{name: m})
	if err != nil {
		return nil, err
	}
	return out.Value(), nil
}

// Compile checks r and prepares it for the engine. Every error is an
// EINVALID error that says which part is wrong. env is the person rule
// language of the portal's attribute schema.
func (r *SyncRule) compile(env *rule.Env) (*compiledRule, error) {
	c := &compiledRule{SyncRule: *r}
	if c.Class != ObjectUser && c.Class != ObjectGroup {
		return nil, portal.Errorf(portal.EINVALID, "A sync rule is for users or groups, not %q.", c.Class)
	}
	r.Scope = strings.TrimSpace(r.Scope)
	if r.Scope != "" {
		var err error
		if c.Class == ObjectUser {
			if c.personScope, err = env.Compile(r.Scope); err != nil {
				return nil, portal.Errorf(portal.EINVALID, "Scope: %s", portal.Reason(err))
			}
		} else if c.groupScope, _, err = compileMap(groupEnv, r.Scope, types.BoolType, portal.Textf("The scope")); err != nil {
			return nil, err
		}
	}
	if len(r.JoinRules) > MaxJoinRules {
		return nil, portal.Errorf(portal.EINVALID, "Give at most %d join rules.", MaxJoinRules)
	}
	for i, j := range r.JoinRules {
		if !attrName.MatchString(j.CS) {
			return nil, portal.Errorf(portal.EINVALID, "%s: %q is not an attribute name.", portal.Textf("Join rule %d", i+1), j.CS)
		}
		a, ok := env.Schema().Lookup(j.MV)
		if c.Class == ObjectUser && !(ok && a.Joinable()) || c.Class == ObjectGroup && j.MV != "name" {
			return nil, portal.Errorf(portal.EINVALID, "%s: %q is not an attribute a %s can be joined on.", portal.Textf("Join rule %d", i+1), j.MV, c.Class)
		}
		if c.Class == ObjectUser {
			c.joinAttrs = append(c.joinAttrs, a)
		}
	}
	if len(r.Inbound) > MaxFlows || len(r.Outbound) > MaxFlows {
		return nil, portal.Errorf(portal.EINVALID, "Give at most %d attribute flows each way.", MaxFlows)
	}
	for i, f := range r.Inbound {
		what := portal.Textf("Inbound flow %d (%s)", i+1, f.MV)
		if c.Class != ObjectUser {
			return nil, portal.Errorf(portal.EINVALID, "%s: groups take no inbound flows.", what)
		}
		a, ok := env.Schema().Lookup(f.MV)
		if !ok || !a.InboundTarget() {
			return nil, portal.Errorf(portal.EINVALID, "%s: %q is not a person attribute an inbound flow can set.", what, f.MV)
		}
		c.inboundAttrs = append(c.inboundAttrs, a)
		prg, keys, err := compileMap(csEnv, f.Expr, types.StringType, what)
		if err != nil {
			return nil, err
		}
		c.inbound = append(c.inbound, prg)
		c.inboundKeys = append(c.inboundKeys, keys)
	}
	seen := map[string]bool{}
	for i, f := range r.Outbound {
		what := portal.Textf("Outbound flow %d (%s)", i+1, f.CS)
		low := strings.ToLower(f.CS)
		switch {
		case !attrName.MatchString(f.CS):
			return nil, portal.Errorf(portal.EINVALID, "%s: %q is not an attribute name.", portal.Textf("Outbound flow %d", i+1), f.CS)
		case seen[low]:
			return nil, portal.Errorf(portal.EINVALID, "%s: the attribute has two flows.", what)
		case reservedAttributes[low]:
			return nil, portal.Errorf(portal.EINVALID, "%s: Tessera sets %s itself.", what, f.CS)
		}
		seen[low] = true
		if c.Class == ObjectUser {
			p, err := env.CompileFlow(f.Expr)
			if err != nil {
				return nil, portal.Errorf(portal.EINVALID, "%s: %s", what, portal.Reason(err))
			}
			c.outPerson = append(c.outPerson, p)
			var ref *portal.Attribute
			if name, ok := strings.CutPrefix(strings.TrimSpace(f.Expr), "person."); ok {
				if a, ok := env.Schema().Lookup(name); ok && a.Type == portal.TypeReference {
					ref = a
				}
			}
			c.outRef = append(c.outRef, ref)
		} else {
			prg, _, err := compileMap(groupEnv, f.Expr, types.StringType, what)
			if err != nil {
				return nil, err
			}
			c.outGroup = append(c.outGroup, prg)
		}
	}
	if r.InitialPassword == "" {
		c.InitialPassword, r.InitialPassword = "none", "none"
	}
	if r.InitialPassword != "none" && r.InitialPassword != "random" {
		return nil, portal.Errorf(portal.EINVALID, "The initial password is none or random, not %q.", r.InitialPassword)
	}
	if r.EnableOnCreate && r.InitialPassword == "none" && c.Class == ObjectUser {
		return nil, portal.Errorf(portal.EINVALID, "An account enabled at creation needs a password: choose a random initial password.")
	}
	if r.Provision || strings.TrimSpace(r.DNTemplate) != "" {
		t, err := parseTemplate(strings.TrimSpace(r.DNTemplate), c.Class, env)
		if err != nil {
			return nil, err
		}
		c.template = t
	}
	if r.Deprovision == "" {
		c.Deprovision, r.Deprovision = DeprovisionNone, DeprovisionNone
	}
	switch r.Deprovision {
	case DeprovisionNone, DeprovisionDelete:
	case DeprovisionDisable:
		if c.Class == ObjectUser && r.DeprovisionOU != "" {
			if _, err := portal.ParseDN(r.DeprovisionOU); err != nil {
				return nil, portal.Errorf(portal.EINVALID, "The deprovisioning OU %q is not a DN: %s.", r.DeprovisionOU, portal.Reason(err))
			}
		}
		if c.Class == ObjectGroup {
			return nil, portal.Errorf(portal.EINVALID, "Groups cannot be disabled: deprovision them by deleting, or not at all.")
		}
	default:
		return nil, portal.Errorf(portal.EINVALID, "Deprovisioning is none, disable or delete, not %q.", r.Deprovision)
	}
	if r.DeleteAfterDays < 0 || r.DeleteAfterDays > 3650 {
		return nil, portal.Errorf(portal.EINVALID, "Delete after 0 to 3650 days.")
	}
	return c, nil
}

// reservedAttributes are set by the engine, never by a flow.
var reservedAttributes = map[string]bool{
	"objectclass": true, "objectguid": true, "unicodepwd": true, "useraccountcontrol": true, "member": true,
	"distinguishedname": true, "cn": true, "name": true, "grouptype": false,
}

var placeholder = regexp.MustCompile(`\{([^{}]*)\}`)

// parseTemplate reads a DN template such as
// CN={displayName},OU={department},OU=People,DC=example,DC=com.
func parseTemplate(s string, class ObjectClass, env *rule.Env) ([]templatePart, error) {
	if s == "" {
		return nil, portal.Errorf(portal.EINVALID, "Provisioning needs a DN template, such as CN={displayName},OU=People,DC=example,DC=com.")
	}
	var parts []templatePart
	last := 0
	for _, m := range placeholder.FindAllStringSubmatchIndex(s, -1) {
		name := s[m[2]:m[3]]
		known := slices.Contains(groupFields, name)
		var attr *portal.Attribute
		if class == ObjectUser {
			a, ok := env.Schema().Lookup(name)
			// A reference reads as text (the person's ID), as in rules.
			known, attr = ok && (a.Type == portal.TypeString || a.Type == portal.TypeReference), a
		}
		if !known {
			return nil, portal.Errorf(portal.EINVALID, "The DN template names {%s}, which is not a text attribute of a %s.", name, class)
		}
		parts = append(parts, templatePart{Text: s[last:m[0]]}, templatePart{Attr: name, attr: attr})
		last = m[1]
	}
	parts = append(parts, templatePart{Text: s[last:]})
	// Check the shape with sample values.
	sample, err := expandTemplate(parts, func(templatePart) string { return "x" })
	if err == nil {
		_, perr := portal.ParseDN(sample)
		if perr != nil {
			err = fmt.Errorf("%s", perr.Message)
		}
	}
	if err != nil {
		return nil, portal.Errorf(portal.EINVALID, "The DN template %q does not make a DN: %v.", s, err)
	}
	if !strings.Contains(strings.ToUpper(parts[0].Text), "CN=") {
		return nil, portal.Errorf(portal.EINVALID, "The DN template must start with CN=.")
	}
	return parts, nil
}

// expandTemplate fills a parsed template with the value of each
// placeholder; each value is escaped as an RDN value. An empty value is an
// error: it would make an empty RDN.
func expandTemplate(parts []templatePart, value func(templatePart) string) (string, error) {
	var b strings.Builder
	for _, p := range parts {
		if p.Attr == "" {
			b.WriteString(p.Text)
			continue
		}
		v := strings.TrimSpace(value(p))
		if v == "" {
			return "", fmt.Errorf("%s is empty", p.Attr)
		}
		if utf8.RuneCountInString(v) > 64 {
			v = strings.TrimSpace(string([]rune(v)[:64]))
		}
		b.WriteString(EscapeRDNValue(v))
	}
	return b.String(), nil
}
