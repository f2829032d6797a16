package portal

import (
	"cmp"
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is a portal role that widens what a person may see and do.
type Role string

// Portal roles.
const (
	RoleHelpdesk Role = "helpdesk"
	RoleAdmin    Role = "admin"
)

// Person is an identity in the metaverse: an employee, contractor or
// service owner as the white pages show them.
type Person struct {
	ID          string
	AccountName string // sAMAccountName-style logon name; privileged
	EmployeeID  string // privileged
	GivenName   string
	Surname     string
	DisplayName string
	Email       string
	Title       string
	Department  string
	Office      string
	Phone       string
	Mobile      string
	ManagerID   string
	ManagerName string
	Enabled     bool // account status; privileged
	// Extra holds attributes beyond the core ones, by schema name.
	Extra map[string]string

	// Privileged is true when the privileged fields above were loaded for a
	// viewer allowed to see them.
	Privileged bool
}

// Initials returns up to two letters for the photo placeholder.
func (p *Person) Initials() string {
	var b strings.Builder
	for _, part := range []string{p.GivenName, p.Surname} {
		r, _ := utf8.DecodeRuneInString(strings.TrimSpace(part))
		if r != utf8.RuneError && unicode.IsLetter(r) {
			b.WriteRune(unicode.ToUpper(r))
		}
	}
	if b.Len() == 0 {
		// The first letter: a leading mark, digit or bidi control would
		// make a meaningless (or, alone, an unisolated) placeholder.
		for _, r := range p.DisplayName {
			if unicode.IsLetter(r) {
				b.WriteRune(unicode.ToUpper(r))
				break
			}
		}
	}
	return b.String()
}

// PersonRef is the short form of a person used in lists and chains.
type PersonRef struct {
	ID          string
	DisplayName string
	Title       string
	Department  string
}

// AttributeValue is one extra attribute of a person, with its schema.
type AttributeValue struct {
	Attribute
	Value string
	// RefName is the display name of the person a reference names ("" when
	// it names no one).
	RefName string
}

// Values returns the attribute's values: several for a multi-valued one.
func (a AttributeValue) Values() []string {
	if a.Type == TypeStrings {
		return SplitValues(a.Value)
	}
	return []string{a.Value}
}

// Profile is everything the profile page shows about one person.
type Profile struct {
	Person       Person
	Attributes   []AttributeValue // extra attributes the person has, by label
	ManagerChain []PersonRef      // nearest manager first
	Reports      []PersonRef
	ReportCount  int
	Groups       []GroupRef
	GroupCount   int
}

// Redact removes what viewer may not see from the profile.
func (p *Profile) Redact(v Viewer) {
	p.Person = p.Person.Redact(v)
	kept := p.Attributes[:0]
	for _, a := range p.Attributes {
		if a.VisibleTo(v, p.Person.ID) {
			kept = append(kept, a)
		}
	}
	p.Attributes = kept
}

// Viewer is the signed-in person on whose behalf a call is made.
type Viewer struct {
	PersonID    string
	DisplayName string
	Roles       []Role
	// TimeZone is the IANA zone the person reads times in ("" until their
	// browser or they themselves have told us; pages then show UTC).
	TimeZone string
	// Language is the code of the language the person chose ("" for none:
	// pages follow the browser, emails are in English).
	Language string
}

// TesseraViewer is who acts when Tessera acts on its own (the demo setup,
// the sync engine, timers): an administrator that is no person, so that
// audit entries name "Tessera", never an administrator it borrowed.
func TesseraViewer() Viewer { return Viewer{DisplayName: "Tessera", Roles: []Role{RoleAdmin}} }

// Has reports whether the viewer holds role.
func (v Viewer) Has(role Role) bool {
	for _, r := range v.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// SeesPrivileged reports whether the viewer may see account name, employee
// ID and account status (helpdesk and administrators).
func (v Viewer) SeesPrivileged() bool {
	return v.Has(RoleHelpdesk) || v.Has(RoleAdmin)
}

// Redact clears the attributes that viewer may not see. Extra
// attributes are shown through Profile.Attributes, which its own Redact
// filters, so Extra is kept only for helpdesk and administrators.
func (p Person) Redact(v Viewer) Person {
	for i := range coreAttributes {
		if a := &coreAttributes[i]; !a.VisibleTo(v, p.ID) {
			a.clear(&p)
		}
	}
	p.Privileged = v.SeesPrivileged()
	if !p.Privileged {
		p.Extra = nil
	}
	return p
}

// PersonFilter selects people for the white pages.
type PersonFilter struct {
	Query string
	// Filters keep the people whose attributes hold these values, each
	// one an attribute the viewer may filter by (Schema.CheckFilters).
	Filters []AttributeFilter
	// Viewer is who searches: the filters they may use depend on it.
	Viewer Viewer
	Offset int
	Limit  int
}

// AttributeFilter keeps the people whose attribute Name holds Value (one
// of the values of a multi-valued attribute), compared without regard to
// case. A reference's Value is the other person's ID. A whole number or a
// date may be filtered by a range instead: Value written FROM..TO (either
// end may be left out), >=X, <=X, >X or <X; checked, Range is set and From
// and To hold its ends in their stored form ("" for an open end).
type AttributeFilter struct {
	Name, Value string
	Range       bool
	From, To    string
}

// MaxFilters bounds the attribute filters of one search.
const MaxFilters = 5

// FilterableBy reports whether v may filter people by the attribute: only
// by one they may see of everyone, so that a filter never tells them a
// value they could not read (an attribute only its person sees is
// filtered by helpdesk and administrators alone).
func (a *Attribute) FilterableBy(v Viewer) bool {
	if !a.Filterable {
		return false
	}
	if a.Visibility == VisibleToSelf {
		return v.SeesPrivileged()
	}
	return a.VisibleTo(v, "")
}

// FiltersFor returns the attributes v may filter people by, in the
// table's order.
func (s *Schema) FiltersFor(v Viewer) []Attribute {
	var out []Attribute
	for _, a := range s.attrs {
		if a.FilterableBy(v) {
			out = append(out, a)
		}
	}
	return out
}

// CheckFilters checks the attribute filters v searches with and returns
// them with each value in its stored form (a number or date canonical, a
// yes or no as true or false). An attribute v may not filter by is
// refused exactly as one that does not exist, so that a refusal tells
// nothing either.
func (s *Schema) CheckFilters(v Viewer, fs []AttributeFilter) ([]AttributeFilter, error) {
	if len(fs) > MaxFilters {
		return nil, Errorf(EINVALID, "Filter by at most %d attributes at once.", MaxFilters)
	}
	out := make([]AttributeFilter, 0, len(fs))
	for _, f := range fs {
		a, ok := s.Lookup(f.Name)
		if !ok || !a.FilterableBy(v) {
			return nil, Errorf(EINVALID, "There is no attribute %q to filter by.", f.Name)
		}
		val := strings.TrimSpace(f.Value)
		if val == "" {
			return nil, Errorf(EINVALID, "Give a value of %s to filter by.", LabelOf(a.Label))
		}
		if a.Type == TypeInt || a.Type == TypeDate {
			if f, ok, err := checkRange(a, val); ok || err != nil {
				if err != nil {
					return nil, err
				}
				out = append(out, f)
				continue
			}
		}
		check := *a
		switch a.Type {
		case TypeStrings:
			// One of the values: checked as one line of text.
			check.Type = TypeString
		case TypeBool:
			switch strings.ToLower(val) {
			case "yes":
				val = "true"
			case "no":
				val = "false"
			}
		}
		val, err := check.CheckValue(val)
		if err != nil {
			return nil, err
		}
		out = append(out, AttributeFilter{Name: a.Name, Value: val})
	}
	return out, nil
}

// checkRange reads val as a range of the whole number or date attribute
// a (FROM..TO, >=X, <=X, >X, <X); ok is false when val is a single value.
// A bound is checked by the attribute's type, not its limits: a range may
// reach past them.
func checkRange(a *Attribute, val string) (f AttributeFilter, ok bool, err error) {
	var from, to string
	strict := false // > and <: the ends are a step inside X
	switch {
	case strings.Contains(val, ".."):
		from, to, _ = strings.Cut(val, "..")
	case strings.HasPrefix(val, ">="):
		from = val[2:]
	case strings.HasPrefix(val, "<="):
		to = val[2:]
	case strings.HasPrefix(val, ">"), strings.HasPrefix(val, "<"):
		strict = true
		if val[0] == '>' {
			from = val[1:]
		} else {
			to = val[1:]
		}
	default:
		return f, false, nil
	}
	check := *a
	check.Min, check.Max = nil, nil
	f = AttributeFilter{Name: a.Name, Range: true}
	if from, to = strings.TrimSpace(from), strings.TrimSpace(to); from == "" && to == "" {
		return f, true, Errorf(EINVALID, "Give at least one end of the range of %s, such as 3..7, 3.. or ..7.", LabelOf(a.Label))
	}
	if f.From, err = check.CheckValue(from); err == nil && f.From != "" && strict {
		f.From, err = stepValue(a, f.From, 1)
	}
	if err == nil {
		if f.To, err = check.CheckValue(to); err == nil && f.To != "" && strict {
			f.To, err = stepValue(a, f.To, -1)
		}
	}
	if err != nil {
		return f, true, err
	}
	if f.From != "" && f.To != "" && compareValues(a.Type, f.From, f.To) > 0 {
		return f, true, Errorf(EINVALID, "The range of %s starts after it ends (%s..%s).", LabelOf(a.Label), f.From, f.To)
	}
	f.Value = f.From + ".." + f.To
	return f, true, nil
}

// stepValue is the whole number or date n after (n > 0) or before the
// stored value s: the bound of > and <.
func stepValue(a *Attribute, s string, n int) (string, error) {
	if a.Type == TypeDate {
		d, err := ParseDate(s)
		if err != nil {
			return "", err
		}
		return d.AddDays(n).String(), nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > 0 && v == math.MaxInt64 || n < 0 && v == math.MinInt64 {
		return "", Errorf(EINVALID, "%s takes a whole number, such as 42.", LabelOf(a.Label))
	}
	return strconv.FormatInt(v+int64(n), 10), nil
}

// compareValues compares two stored values of a whole number or date
// attribute (a date's stored form, YYYY-MM-DD, sorts as text).
func compareValues(typ, x, y string) int {
	if typ == TypeInt {
		a, _ := strconv.ParseInt(x, 10, 64)
		b, _ := strconv.ParseInt(y, 10, 64)
		return cmp.Compare(a, b)
	}
	return strings.Compare(x, y)
}

// MaxQueryLen is the longest search string accepted, in characters.
const MaxQueryLen = 200

// Normalize trims the query and checks its length and paging.
func (f *PersonFilter) Normalize() error { return normalizeFilter(&f.Query, &f.Offset, &f.Limit) }

func normalizeFilter(query *string, offset, limit *int) error {
	q, err := NormalizeQuery(*query)
	if err != nil {
		return err
	}
	*query = q
	*offset, *limit = normalizePage(*offset, *limit)
	return nil
}

// NormalizeQuery trims a search string, collapses its spaces, and rejects
// one that is too long or not valid UTF-8.
func NormalizeQuery(q string) (string, error) {
	if !utf8.ValidString(q) {
		return "", Errorf(EINVALID, "The search text is not valid text.")
	}
	q = strings.Join(strings.FieldsFunc(q, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if n := utf8.RuneCountInString(q); n > MaxQueryLen {
		return "", Errorf(EINVALID, "The search text is too long (%d characters); use at most %d.", n, MaxQueryLen)
	}
	return q, nil
}

// DefaultPageSize is the number of rows in a page of results.
const DefaultPageSize = 25

func normalizePage(offset, limit int) (int, int) {
	if offset < 0 {
		offset = 0
	}
	if offset > 100000 {
		offset = 100000
	}
	if limit <= 0 || limit > 100 {
		limit = DefaultPageSize
	}
	return offset, limit
}

// Page is one page of results; More is true when another page follows.
// Total counts every match when it is known (0 otherwise); Capped says the
// matches were more than MaxMatches and only that many can be paged through.
type Page[T any] struct {
	Items  []T
	Offset int
	Limit  int
	More   bool
	Total  int
	Capped bool
}

// MaxMatches is how many matches of a search can be paged through; a
// search matching more asks the person to add a word.
const MaxMatches = 1000

// PersonService reads people for the white pages.
type PersonService interface {
	// SearchPeople returns people whose name, email, title, department,
	// office or phone contain every word of the query.
	SearchPeople(ctx context.Context, f PersonFilter) (Page[Person], error)
	// FindProfile returns a person with their manager chain, reports and groups.
	FindProfile(ctx context.Context, id string) (*Profile, error)
	// Schema returns the live person attribute table: the core attributes
	// and those administrators added.
	Schema(ctx context.Context) (*Schema, error)
	// FindPersonByName returns the person whose account name or email is name.
	FindPersonByName(ctx context.Context, name string) (PersonRef, error)
	// SetTimeZone stores the IANA time zone the viewer reads times in. With
	// onlyIfUnset (a browser reporting its zone on a first visit) it never
	// replaces a zone already stored.
	SetTimeZone(ctx context.Context, v Viewer, zone string, onlyIfUnset bool) error
	// SetLanguage stores the language the viewer reads Tessera in: a code
	// of a shipped language (i18n.Languages), or "" to follow the browser.
	SetLanguage(ctx context.Context, v Viewer, code string) error
	// FindOrgTree returns the org chart around a person: managers, peers and
	// the people below them.
	FindOrgTree(ctx context.Context, id string) (*OrgTree, error)
}

// EndDateKey is the key of a create_person request's changes that holds
// the person's last day (YYYY-MM-DD), after which they are disabled.
const EndDateKey = "endDate"

// NewPerson is a person an administrator creates by hand (a contractor):
// their attributes, and their last day when they have one.
type NewPerson struct {
	Person Person
	// EndDate, when set, is their last day: they are disabled when it ends
	// in the organisation's time zone.
	EndDate *Date
}

// newPersonAttributes are the attributes a person created by hand is given.
var newPersonAttributes = []string{"accountName", "employeeId", "givenName", "surname", "displayName", "email", "title",
	"department", "office", "phone", "mobile", "managerId"}

// NewPersonAttributes names, in form order, the attributes a person created
// by hand is given.
func NewPersonAttributes() []string { return slices.Clone(newPersonAttributes) }

// NewPersonFromChanges reads and checks a create_person request's changes:
// a display name and an account name as AD takes it (sAMAccountName: at
// most 20 characters, none of "/\[]:;|=,+*?<>@ or a trailing full stop),
// every other value within its attribute's limits; an end date in the
// future.
func NewPersonFromChanges(c map[string]string, now time.Time) (NewPerson, error) {
	return NewPersonFromChangesIn(coreSchema, c, now)
}

// NewPersonFromChangesIn is NewPersonFromChanges against the person
// attribute table s: the person may be given its extra attributes too, each
// value checked against its type and limits and kept as it is stored.
func NewPersonFromChangesIn(s *Schema, c map[string]string, now time.Time) (NewPerson, error) {
	var n NewPerson
	n.Person.Enabled = true
	for k, v := range c {
		if k == EndDateKey {
			if v == "" {
				continue
			}
			d, err := ParseDate(v)
			if err != nil {
				return n, err
			}
			if d.Compare(DateOf(now.UTC())) < 0 {
				return n, Errorf(EINVALID, "The end date has passed already.")
			}
			n.EndDate = &d
			continue
		}
		if a, ok := s.Lookup(k); ok && !a.Core() {
			if !utf8.ValidString(v) {
				return n, Errorf(EINVALID, "The new %s is not valid text.", LowerLabel(a.Label))
			}
			val, err := a.CheckValue(v)
			if err != nil {
				return n, err
			}
			if val != "" {
				if n.Person.Extra == nil {
					n.Person.Extra = map[string]string{}
				}
				n.Person.Extra[k] = val
			}
			continue
		}
		a, ok := coreSchema.Lookup(k)
		if !ok || !slices.Contains(newPersonAttributes, k) {
			return n, Errorf(EINVALID, "A new person has no attribute %q.", k)
		}
		if err := a.checkRequested(v); err != nil {
			return n, err
		}
		a.SetText(&n.Person, strings.TrimSpace(v))
	}
	if n.Person.DisplayName == "" {
		return n, Errorf(EINVALID, "Give the person a display name.")
	}
	if err := CheckAccountName(n.Person.AccountName); err != nil {
		return n, err
	}
	return n, nil
}

// MaxAccountName is the longest sAMAccountName of a user AD accepts from
// older clients and tools (the pre-Windows 2000 logon name).
const MaxAccountName = 20

// CheckAccountName checks a new person's account name as AD's
// sAMAccountName takes it.
func CheckAccountName(name string) error {
	switch {
	case name == "":
		return Errorf(EINVALID, "Give the person an account name.")
	case utf8.RuneCountInString(name) > MaxAccountName:
		return Errorf(EINVALID, "The account name is too long (%d characters): Active Directory takes at most %d.",
			utf8.RuneCountInString(name), MaxAccountName)
	case strings.HasSuffix(name, "."):
		return Errorf(EINVALID, "Active Directory refuses an account name that ends with a full stop.")
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`"/\[]:;|=,+*?<>@`, r) {
			return Errorf(EINVALID, "The account name may not contain “%c”: Active Directory refuses it.", r)
		}
	}
	return nil
}
