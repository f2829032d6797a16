// Package rule compiles and evaluates membership rules: the CEL filter
// expressions over person attributes that define sets and dynamic groups
// (MIM's criteria-based membership).
//
// A rule reads the person through one variable, person, whose attributes
// are typed, so that a misspelt attribute or a comparison between the wrong
// types is refused when the rule is saved, not when it is evaluated:
//
//	person.department == "IT"
//	person.office in ["London", "Dublin"] && person.enabled
//	person.title.startsWith("Senior") || person.costCenter.startsWith("CC-FIN")
//	person.startDate >= date("2024-01-01")
//
// The attributes are those of the person attribute table (portal.Schema).
// The core attributes are strings (accountName, employeeId, givenName,
// surname, displayName, email, title, department, office, phone, mobile,
// managerId) and one bool (enabled). The extra attributes of the schema keep
// their type: string, int, bool, or date; a multi-valued text attribute is
// a list of strings ("Go" in person.skills) and a reference to a person
// reads as text (their ID). A date is a CEL timestamp at midnight UTC of
// that day; date("YYYY-MM-DD") writes one, and the timestamp functions
// (getFullYear, getMonth, ...) read its parts.
//
// An attribute a person lacks (an empty core attribute, an extra attribute
// that is absent or does not parse as its type) reads as its type's zero
// value: "", 0, false, 0001-01-01, or an empty list. has(person.x) tells
// whether it is set.
// Besides the standard CEL functions, rules have the string extensions
// (lowerAscii, upperAscii, trim, split, indexOf, replace, ...).
package rule

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	celops "github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/tessera-idm/tessera/portal"
)

// Limits on what a rule may be. MaxCost bounds the estimated worst-case
// cost of evaluating a rule for one person (CEL's cost units, roughly one
// per operation); a rule over it is refused when saved. The estimate knows
// the longest value of every core attribute (the database bounds them) but
// only assumes one for extra string attributes, so a rule that reads those
// is also stopped at MaxCost while it runs. Other rules run without that
// meter, which would cost more than the rule.
const (
	MaxLength = 4096
	MaxCost   = 10_000
)

// Attribute types in a rule: those of the person attribute table. A
// reference to a person reads as text (the person's ID).
const (
	TypeString  = portal.TypeString
	TypeStrings = portal.TypeStrings // a list of strings
	TypeInt     = portal.TypeInt
	TypeBool    = portal.TypeBool
	TypeDate    = portal.TypeDate
)

// Field is an attribute that rules can read, as the rule editor lists it.
type Field struct {
	Name string
	Type string // string, strings, int, bool or date
}

// personTypeName is the CEL type of the person variable; it shows in
// messages such as "cannot use == with (Person, string)".
const personTypeName = "Person"

var personType = types.NewObjectType(personTypeName)

// field reads one attribute of a person.
type field struct {
	Field
	celType *types.Type
	maxSize uint64 // longest string value, for cost estimation
	// assumedSize says that the database does not bound maxSize.
	assumedSize bool
	// within says whether p's value is no longer than maxSize, so that
	// the cost estimate holds for p; nil when it always does.
	within func(*portal.Person) bool
	get    func(*portal.Person) (ref.Val, bool)
	// text reads a string attribute as Go text (nil for other types), for
	// a rule's guards.
	text func(*portal.Person) string
}

// coreField reads one of the person's own columns. The database bounds a
// text column's values by the attribute's MaxLen, which the cost estimate
// uses.
func coreField(a *portal.Attribute) (field, error) {
	switch a.Type {
	case portal.TypeString, portal.TypeReference:
		return field{Field: Field{a.Name, TypeString}, celType: types.StringType, maxSize: uint64(a.MaxLen),
			get: func(p *portal.Person) (ref.Val, bool) {
				s := a.Text(p)
				return types.String(s), s != ""
			},
			text: a.Text}, nil
	case portal.TypeBool:
		return field{Field: Field{a.Name, TypeBool}, celType: types.BoolType,
			get: func(p *portal.Person) (ref.Val, bool) { return types.Bool(a.Bool(p)), true }}, nil
	}
	return field{}, fmt.Errorf("rule: core attribute %s has type %q, which rules cannot read", a.Name, a.Type)
}

// maxExtraSize is the assumed longest extra string value, for cost
// estimation only.
const maxExtraSize = 1024

var zeroDate = types.Timestamp{Time: time.Time{}.UTC()}

func extraField(a *portal.Attribute) (field, error) {
	name := a.Name
	f := field{Field: Field{name, a.Type}}
	switch a.Type {
	case TypeString, portal.TypeReference:
		f.Type, f.celType, f.maxSize, f.assumedSize = TypeString, types.StringType, maxExtraSize, true
		f.get = func(p *portal.Person) (ref.Val, bool) {
			s, ok := p.Extra[name]
			return types.String(s), ok && s != ""
		}
		f.text = func(p *portal.Person) string { return p.Extra[name] }
		f.within = func(p *portal.Person) bool { return len(p.Extra[name]) <= maxExtraSize }
	case TypeStrings:
		f.celType, f.maxSize, f.assumedSize = types.NewListType(types.StringType), portal.MaxAttributeValues, true
		// The estimate knows no length of the values in the list: a rule
		// that reads one always runs with the meter.
		f.within = func(*portal.Person) bool { return false }
		f.get = func(p *portal.Person) (ref.Val, bool) {
			vals := portal.SplitValues(p.Extra[name])
			return types.NewStringList(types.DefaultTypeAdapter, vals), len(vals) > 0
		}
	case TypeInt:
		f.celType = types.IntType
		f.get = func(p *portal.Person) (ref.Val, bool) {
			n, err := strconv.ParseInt(strings.TrimSpace(p.Extra[name]), 10, 64)
			return types.Int(n), err == nil
		}
	case TypeBool:
		f.celType = types.BoolType
		f.get = func(p *portal.Person) (ref.Val, bool) {
			b, err := strconv.ParseBool(strings.TrimSpace(p.Extra[name]))
			return types.Bool(b), err == nil
		}
	case TypeDate:
		f.celType = types.TimestampType
		f.get = func(p *portal.Person) (ref.Val, bool) {
			t, ok := parseDate(p.Extra[name])
			if !ok {
				return zeroDate, false
			}
			return types.Timestamp{Time: t}, true
		}
	default:
		return f, fmt.Errorf("rule: attribute %s has unknown type %q", name, a.Type)
	}
	return f, nil
}

// parseDate reads a stored date: YYYY-MM-DD, or an RFC 3339 time.
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), true
	}
	return time.Time{}, false
}

// Env is the rule language for one attribute schema. It is safe for
// concurrent use; build it once per schema, it is not cheap.
type Env struct {
	env    *cel.Env
	schema *portal.Schema
	fields []field
	byName map[string]*field
}

// NewEnv builds the rule language for the attributes of schema: its core
// attributes first, then its extra attributes.
func NewEnv(schema *portal.Schema) (*Env, error) {
	e := &Env{schema: schema, byName: map[string]*field{}}
	for _, a := range schema.All() {
		newField := extraField
		if a.Core() {
			newField = coreField
		}
		f, err := newField(&a)
		if err != nil {
			return nil, err
		}
		e.fields = append(e.fields, f)
	}
	for i := range e.fields {
		e.byName[e.fields[i].Name] = &e.fields[i]
	}
	env, err := cel.NewEnv(
		withPersonType(e),
		cel.Variable("person", personType),
		ext.Strings(),
		cel.Function("date", cel.Overload("date_string", []*cel.Type{cel.StringType}, cel.TimestampType,
			cel.UnaryBinding(func(v ref.Val) ref.Val {
				s, ok := v.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(v)
				}
				t, err := time.Parse(time.DateOnly, string(s))
				if err != nil {
					return types.NewErr("date(%q): a date is written YYYY-MM-DD", string(s))
				}
				return types.Timestamp{Time: t}
			}))),
		cel.ParserRecursionLimit(64),
		cel.ParserExpressionSizeLimit(MaxLength),
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
			cel.ValidateHomogeneousAggregateLiterals(),
			cel.ValidateComprehensionNestingLimit(3),
			dateLiterals{},
			personUses{},
		),
	)
	if err != nil {
		return nil, fmt.Errorf("rule: environment: %w", err)
	}
	e.env = env
	return e, nil
}

// Schema returns the person attribute table the language was built for.
func (e *Env) Schema() *portal.Schema { return e.schema }

// Fields lists the attributes rules can read, core attributes first.
func (e *Env) Fields() []Field {
	out := make([]Field, len(e.fields))
	for i, f := range e.fields {
		out[i] = f.Field
	}
	return out
}

// Rule is a compiled, type-checked rule. It is safe for concurrent use.
type Rule struct {
	src   string
	prg   cel.Program
	attrs []string
	cost  uint64
	// list: a flow whose type is a list of texts, which may give several
	// values for one person.
	list bool
	// sized are the attributes the rule reads whose length the cost
	// estimate only assumes; for a person whose values of them are all
	// within it, the estimate holds, so fast (prg without the meter)
	// evaluates the rule as prg would, and the guards decide it.
	sized []*field
	fast  cel.Program
	// guards are conjuncts of the rule's top level (a && b && ...) that
	// Go decides: a person for whom one is false does not match.
	guards []guard
}

// Compile compiles src against schema. Prefer NewEnv and Env.Compile when
// compiling many rules.
func Compile(src string, schema *portal.Schema) (*Rule, error) {
	e, err := NewEnv(schema)
	if err != nil {
		return nil, err
	}
	return e.Compile(src)
}

// Compile parses and type-checks src, which must be true or false for each
// person. Every error it returns is a portal EINVALID error whose message
// says what is wrong and where (line and column).
func (e *Env) Compile(src string) (r *Rule, err error) {
	return e.compile(src, types.BoolType)
}

// stringList is the type of a flow that gives several values.
var stringList = types.NewListType(types.StringType)

// CompileFlow parses and type-checks an outbound attribute flow, which
// gives a string for each person or, for a multi-valued attribute in the
// system, a list of strings (person.skills, or
// person.skills.map(s, s.lowerAscii())). Its errors are like Compile's.
func (e *Env) CompileFlow(src string) (*Rule, error) {
	return e.compile(src, stringList)
}

func (e *Env) compile(src string, want *types.Type) (r *Rule, err error) {
	defer func() {
		// A panic inside CEL on some odd input must not take the portal
		// down; it is a rule we cannot accept.
		if p := recover(); p != nil {
			r, err = nil, portal.Errorf(portal.EINVALID, "The rule could not be read (%v).", p)
		}
	}()
	switch {
	case len(src) > MaxLength:
		return nil, portal.Errorf(portal.EINVALID, "The rule is too long (%d bytes); use at most %d.", len(src), MaxLength)
	case !utf8.ValidString(src):
		return nil, portal.Errorf(portal.EINVALID, "The rule is not valid text.")
	case strings.TrimSpace(src) == "" && want == stringList:
		return nil, portal.Errorf(portal.EINVALID, `The expression is empty; write one such as person.surname.`)
	case strings.TrimSpace(src) == "":
		return nil, portal.Errorf(portal.EINVALID, `The rule is empty; write a condition such as person.department == "IT".`)
	}
	checked, iss := e.env.Compile(src)
	if iss.Err() != nil {
		return nil, e.issuesError(iss)
	}
	if want == stringList && !checked.OutputType().IsExactType(types.StringType) && !checked.OutputType().IsExactType(stringList) {
		return nil, portal.Errorf(portal.EINVALID,
			"The expression must give text or a list of texts for each person, but it gives %s; convert it with string(...).",
			typeLabel(checked.OutputType()))
	}
	if want == types.BoolType && !checked.OutputType().IsExactType(types.BoolType) {
		return nil, portal.Errorf(portal.EINVALID,
			"The rule must be true or false for each person, but it gives %s; compare it with something, e.g. == or startsWith.",
			typeLabel(checked.OutputType()))
	}
	est, err := e.env.EstimateCost(checked, costEstimator{e})
	if err != nil {
		return nil, portal.Errorf(portal.EINVALID, "The rule's cost cannot be estimated: %v", err)
	}
	if est.Max > MaxCost {
		return nil, portal.Errorf(portal.EINVALID,
			"The rule is too costly to evaluate for every person (estimated cost %s, limit %d); use fewer or smaller loops and lists.",
			costLabel(est.Max), MaxCost)
	}
	attrs := readAttributes(checked)
	r = &Rule{src: src, attrs: attrs, cost: est.Max, list: checked.OutputType().IsExactType(stringList)}
	for _, name := range attrs {
		if f := e.byName[name]; f.assumedSize {
			r.sized = append(r.sized, f)
		}
	}
	if r.prg, err = e.env.Program(checked, cel.EvalOptions(cel.OptOptimize)); err != nil {
		return nil, portal.Errorf(portal.EINVALID, "The rule cannot be evaluated: %v", err)
	}
	r.fast = r.prg
	if len(r.sized) > 0 {
		r.prg, err = e.env.Program(checked, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(MaxCost))
		if err != nil {
			return nil, portal.Errorf(portal.EINVALID, "The rule cannot be evaluated: %v", err)
		}
	}
	if want == types.BoolType {
		r.guards = e.guards(checked.NativeRep().Expr(), nil)
	}
	return r, nil
}

// String returns the rule's source text.
func (r *Rule) String() string { return r.src }

// GivesList reports whether a flow compiled with CompileFlow is typed as
// a list of texts (person.skills): it may give several values for one
// person, which an attribute holding one value cannot take.
func (r *Rule) GivesList() bool { return r.list }

// Cost returns the estimated worst-case cost of evaluating the rule for one
// person.
func (r *Rule) Cost() uint64 { return r.cost }

// Attributes returns the names of the attributes the rule reads, sorted; a
// caller that loads people only to evaluate the rule loads only these.
func (r *Rule) Attributes() []string { return r.attrs }

// Match evaluates the rule for p (core attributes and p.Extra). A rule that
// fails for this person (an index out of range, the cost limit) returns
// false and an EINVALID error naming the failure.
func (r *Rule) Match(p *portal.Person) (bool, error) {
	prg := r.prg
	if r.withinEstimate(p) {
		// A false conjunct makes the rule false whatever the others
		// give, errors included (CEL's && is commutative), and within
		// the estimate no meter can stop the evaluation first.
		for i := range r.guards {
			if !r.guards[i].pass(p) {
				return false, nil
			}
		}
		prg = r.fast
	}
	return r.eval(prg, p)
}

// eval runs prg, a program of r, for p.
func (r *Rule) eval(prg cel.Program, p *portal.Person) (bool, error) {
	out, _, err := prg.Eval(&personValue{p: p})
	if err != nil {
		return false, portal.Errorf(portal.EINVALID, "The rule fails for %s: %v.", p.DisplayName, err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, portal.Errorf(portal.EINVALID, "The rule gives %v for %s, not true or false.", out, p.DisplayName)
	}
	return bool(b), nil
}

// withinEstimate says whether each value of p the rule reads is within
// the length its cost estimate assumed.
func (r *Rule) withinEstimate(p *portal.Person) bool {
	for _, f := range r.sized {
		if !f.within(p) {
			return false
		}
	}
	return true
}

// guard is a conjunct of a rule that Go decides without CEL: a string
// attribute equal to one of values (== or in), or starting with prefix
// (startsWith).
type guard struct {
	text     func(*portal.Person) string
	values   []string
	prefix   string
	isPrefix bool
}

func (g *guard) pass(p *portal.Person) bool {
	v := g.text(p)
	if g.isPrefix {
		return strings.HasPrefix(v, g.prefix)
	}
	return slices.Contains(g.values, v)
}

// guards appends to gs the conjuncts of expr, a checked rule, that are
// guards: person.a == "x" (either way round), person.a in ["x", "y"] and
// person.a.startsWith("x"), for a string attribute a. Other conjuncts, and
// everything under ||, !, ?: and the like, are left to CEL.
func (e *Env) guards(expr ast.Expr, gs []guard) []guard {
	if expr.Kind() != ast.CallKind {
		return gs
	}
	call := expr.AsCall()
	args := call.Args()
	switch fn := call.FunctionName(); {
	case fn == celops.LogicalAnd:
		for _, a := range args {
			gs = e.guards(a, gs)
		}
	case fn == celops.Equals && len(args) == 2:
		for _, pair := range [][2]ast.Expr{{args[0], args[1]}, {args[1], args[0]}} {
			f, lit := e.textAttribute(pair[0]), stringLiteral(pair[1])
			if f != nil && lit != nil {
				return append(gs, guard{text: f.text, values: []string{*lit}})
			}
		}
	case fn == celops.In && len(args) == 2:
		f := e.textAttribute(args[0])
		if f == nil || args[1].Kind() != ast.ListKind || len(args[1].AsList().OptionalIndices()) > 0 {
			return gs
		}
		values := []string{}
		for _, el := range args[1].AsList().Elements() {
			lit := stringLiteral(el)
			if lit == nil {
				return gs
			}
			values = append(values, *lit)
		}
		return append(gs, guard{text: f.text, values: values})
	case fn == overloads.StartsWith && call.IsMemberFunction() && len(args) == 1:
		f, lit := e.textAttribute(call.Target()), stringLiteral(args[0])
		if f != nil && lit != nil {
			return append(gs, guard{text: f.text, prefix: *lit, isPrefix: true})
		}
	}
	return gs
}

// textAttribute returns the string attribute expr reads (person.a, not
// has(person.a)), or nil.
func (e *Env) textAttribute(expr ast.Expr) *field {
	if expr.Kind() != ast.SelectKind {
		return nil
	}
	sel := expr.AsSelect()
	if sel.IsTestOnly() || sel.Operand().Kind() != ast.IdentKind || sel.Operand().AsIdent() != "person" {
		return nil
	}
	if f := e.byName[sel.FieldName()]; f != nil && f.text != nil && f.celType == types.StringType {
		return f
	}
	return nil
}

// stringLiteral returns the text of a string literal, or nil.
func stringLiteral(expr ast.Expr) *string {
	if expr.Kind() != ast.LiteralKind {
		return nil
	}
	s, ok := expr.AsLiteral().(types.String)
	if !ok {
		return nil
	}
	v := string(s)
	return &v
}

// Values evaluates a rule compiled with CompileFlow for p: its non-empty
// values in order, each once (none for an empty string or list).
func (r *Rule) Values(p *portal.Person) ([]string, error) {
	out, _, err := r.prg.Eval(&personValue{p: p})
	if err != nil {
		return nil, portal.Errorf(portal.EINVALID, "The expression fails for %s: %v.", p.DisplayName, err)
	}
	if s, ok := out.(types.String); ok {
		if s == "" {
			return nil, nil
		}
		return []string{string(s)}, nil
	}
	l, ok := out.(traits.Lister)
	if !ok {
		return nil, portal.Errorf(portal.EINVALID, "The expression gives %v for %s, not text.", out, p.DisplayName)
	}
	var vals []string
	for it := l.Iterator(); it.HasNext() == types.True; {
		s, ok := it.Next().(types.String)
		if !ok {
			return nil, portal.Errorf(portal.EINVALID, "The expression gives %v for %s, not text.", out, p.DisplayName)
		}
		if s != "" && !slices.Contains(vals, string(s)) {
			vals = append(vals, string(s))
		}
	}
	return vals, nil
}

// readAttributes collects the attributes selected on the person variable,
// which personUses ensures is the only way a rule reads the person.
func readAttributes(a *cel.Ast) []string {
	names := []string{}
	for _, sel := range ast.MatchDescendants(ast.NavigateAST(a.NativeRep()), ast.KindMatcher(ast.SelectKind)) {
		s := sel.AsSelect()
		if op := s.Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == "person" {
			names = append(names, s.FieldName())
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// personValue is the person variable: a CEL value whose attributes are
// read through the provider's field getters, and the activation that binds
// it, so that evaluating a rule allocates no map.
type personValue struct{ p *portal.Person }

func (v *personValue) ResolveName(name string) (any, bool) {
	if name == "person" {
		return v, true
	}
	return nil, false
}

func (v *personValue) Parent() interpreter.Activation { return nil }

func (v *personValue) ConvertToNative(t reflect.Type) (any, error) {
	if t == reflect.TypeOf(v.p) {
		return v.p, nil
	}
	return nil, fmt.Errorf("a person cannot be converted to %v", t)
}

func (v *personValue) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return personType
	}
	if t.TypeName() == personTypeName {
		return v
	}
	return types.NewErr("a person cannot be converted to %s", t.TypeName())
}

func (v *personValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(*personValue)
	return types.Bool(ok && o.p == v.p)
}

func (v *personValue) Type() ref.Type { return personType }
func (v *personValue) Value() any     { return v }

// withPersonType adds the Person type to the environment's type provider,
// keeping the provider it had for everything else.
func withPersonType(e *Env) cel.EnvOption {
	return func(env *cel.Env) (*cel.Env, error) {
		return cel.CustomTypeProvider(&personProvider{Provider: env.CELTypeProvider(), env: e})(env)
	}
}

// personProvider describes the Person type to the checker (its fields and
// their types) and to the interpreter (how to read each field).
type personProvider struct {
	types.Provider
	env *Env
}

func (pp *personProvider) FindStructType(name string) (*types.Type, bool) {
	if name == personTypeName {
		return types.NewTypeTypeWithParam(personType), true
	}
	return pp.Provider.FindStructType(name)
}

func (pp *personProvider) FindStructFieldNames(name string) ([]string, bool) {
	if name == personTypeName {
		var names []string
		for _, f := range pp.env.fields {
			names = append(names, f.Name)
		}
		return names, true
	}
	return pp.Provider.FindStructFieldNames(name)
}

func (pp *personProvider) FindStructFieldType(name, fieldName string) (*types.FieldType, bool) {
	if name != personTypeName {
		return pp.Provider.FindStructFieldType(name, fieldName)
	}
	f, ok := pp.env.byName[fieldName]
	if !ok {
		return nil, false
	}
	get := f.get
	return &types.FieldType{
		Type: f.celType,
		IsSet: func(target any) bool {
			pv, ok := target.(*personValue)
			if !ok {
				return false
			}
			_, set := get(pv.p)
			return set
		},
		GetFrom: func(target any) (any, error) {
			pv, ok := target.(*personValue)
			if !ok {
				return nil, fmt.Errorf("%s is read from a person, not %T", fieldName, target)
			}
			v, _ := get(pv.p)
			return v, nil
		},
	}, true
}

func (pp *personProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if name == personTypeName {
		return types.NewErr("a rule cannot create a person")
	}
	return pp.Provider.NewValue(name, fields)
}

// costEstimator gives the checker the longest value of each attribute, so
// that string functions on attributes have a bounded estimate.
type costEstimator struct{ env *Env }

func (c costEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 2 && path[0] == "person" {
		if f, ok := c.env.byName[path[1]]; ok && f.maxSize > 0 {
			return &checker.SizeEstimate{Min: 0, Max: f.maxSize}
		}
	}
	return nil
}

func (costEstimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// dateLiterals refuses date("...") with a constant that is not a date when
// the rule is saved, rather than failing for every person later.
type dateLiterals struct{}

func (dateLiterals) Name() string { return "tessera.validator.date" }

func (dateLiterals) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	for _, call := range ast.MatchDescendants(ast.NavigateAST(a), ast.FunctionMatcher("date")) {
		args := call.AsCall().Args()
		if len(args) != 1 || args[0].Kind() != ast.LiteralKind {
			continue
		}
		s, ok := args[0].AsLiteral().(types.String)
		if !ok {
			continue
		}
		if _, err := time.Parse(time.DateOnly, string(s)); err != nil {
			iss.ReportErrorAtID(args[0].ID(), "date(%q) is not a date; write it YYYY-MM-DD", string(s))
		}
	}
}

// issuesError turns CEL's issues into one EINVALID error in words an
// administrator can act on, each with its line and column.
func (e *Env) issuesError(iss *cel.Issues) error {
	var msgs []string
	for i, ce := range iss.Errors() {
		if i == 3 {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(iss.Errors())-i))
			break
		}
		msg := e.humanMessage(ce.Message)
		if loc := ce.Location; loc != nil && loc.Line() > 0 {
			msg = fmt.Sprintf("line %d, column %d: %s", loc.Line(), loc.Column()+1, msg)
		}
		msgs = append(msgs, msg)
	}
	if len(msgs) == 0 {
		msgs = append(msgs, "it could not be read")
	}
	return portal.Errorf(portal.EINVALID, "The rule is not valid: %s.", strings.Join(msgs, "; "))
}

// operators names CEL's internal operator functions as they are written.
var operators = strings.NewReplacer(
	"_==_", "==", "_!=_", "!=", "_<_", "<", "_<=_", "<=", "_>_", ">", "_>=_", ">=",
	"_&&_", "&&", "_||_", "||", "_+_", "+", "_-_", "-", "_*_", "*", "_/_", "/", "_%_", "%",
	"!_", "!", "-_", "-", "_?_:_", "?:", "@in", "in", "_[_]", "[]",
)

func (e *Env) humanMessage(msg string) string {
	msg = strings.TrimSuffix(msg, ".")
	if name, ok := between(msg, "undefined field '", "'"); ok {
		out := fmt.Sprintf("person has no attribute %q", name)
		if s := e.suggest(name); s != "" {
			out += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return out
	}
	if name, ok := between(msg, "undeclared reference to '", "'"); ok {
		if _, isField := e.byName[name]; isField {
			return fmt.Sprintf("unknown name %q; attributes are read as person.%s", name, name)
		}
		return fmt.Sprintf("unknown name or function %q; a rule reads attributes as person.department, person.title and so on", name)
	}
	if fn, ok := between(msg, "invalid ", " argument"); ok && !strings.Contains(fn, " ") {
		if fn == "matches" {
			return "the pattern given to matches is not a valid regular expression"
		}
		return fmt.Sprintf("the text given to %s is not a valid %s", fn, fn)
	}
	if fn, ok := between(msg, "found no matching overload for '", "'"); ok {
		args, _ := between(msg, "applied to '", "'")
		return fmt.Sprintf("cannot use %s with %s", operators.Replace(fn), args)
	}
	if strings.HasPrefix(msg, "expression recursion limit exceeded") {
		return "the rule is nested too deeply"
	}
	if msg == "comprehension exceeds nesting limit" {
		return "loops (all, exists, map, filter) are nested more than 3 deep"
	}
	return operators.Replace(msg)
}

// between returns the text of s between prefix and the next end.
func between(s, prefix, end string) (string, bool) {
	_, rest, ok := strings.Cut(s, prefix)
	if !ok {
		return "", false
	}
	inner, _, ok := strings.Cut(rest, end)
	return inner, ok
}

// suggest returns the attribute name nearest to name, if it is close.
func (e *Env) suggest(name string) string {
	best, bestDist := "", 3
	for _, f := range e.fields {
		if d := editDistance(strings.ToLower(name), strings.ToLower(f.Name)); d < bestDist {
			best, bestDist = f.Name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// typeLabel names a CEL type, with its article, as the rule editor talks
// about it.
func typeLabel(t *types.Type) string {
	switch t.Kind() {
	case types.TimestampKind:
		return "a date"
	case types.ListKind:
		return "a list"
	case types.MapKind:
		return "a map"
	case types.StringKind:
		return "a string"
	case types.IntKind:
		return "an int"
	case types.DoubleKind:
		return "a double"
	case types.UintKind:
		return "a uint"
	}
	return "a value of type " + t.String()
}

// costLabel prints a cost estimate; CEL caps an unbounded one at MaxUint64.
func costLabel(c uint64) string {
	if c >= math.MaxUint64/2 {
		return "unbounded"
	}
	return strconv.FormatUint(c, 10)
}

// personUses keeps the person variable to its one use, person.attribute:
// a person cannot be compared, listed or created, and no loop variable may
// take its name, so every attribute a rule reads is visible in its text.
type personUses struct{}

func (personUses) Name() string { return "tessera.validator.person" }

func (personUses) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *ast.AST, iss *cel.Issues) {
	root := ast.NavigateAST(a)
	for _, id := range ast.MatchDescendants(root, ast.KindMatcher(ast.IdentKind)) {
		if id.AsIdent() != "person" {
			continue
		}
		if parent, ok := id.Parent(); ok && parent.Kind() == ast.SelectKind && parent.AsSelect().Operand().ID() == id.ID() {
			continue
		}
		iss.ReportErrorAtID(id.ID(), "use an attribute of the person, such as person.department, not person on its own")
	}
	for _, st := range ast.MatchDescendants(root, ast.KindMatcher(ast.StructKind)) {
		iss.ReportErrorAtID(st.ID(), "a rule cannot create a %s", st.AsStruct().TypeName())
	}
	for _, c := range ast.MatchDescendants(root, ast.KindMatcher(ast.ComprehensionKind)) {
		comp := c.AsComprehension()
		if comp.IterVar() == "person" || comp.IterVar2() == "person" {
			iss.ReportErrorAtID(c.ID(), "a loop variable cannot be called person")
		}
	}
}
