package portal

import (
	"slices"
	"strconv"
	"strings"
)

// Types of person attribute values. The names are those of the
// attribute_schema table's type column.
const (
	TypeString = "string"
	// TypeStrings is text with several values, kept one a line (see
	// SplitValues); rules read it as a list of strings.
	TypeStrings = "strings"
	TypeInt     = "int"
	TypeBool    = "bool"
	TypeDate    = "date"
	// TypeReference is another person, held as their ID; rules read it as
	// text.
	TypeReference = "reference"
)

// Visibility says who may see a person attribute; the zero Visibility is
// VisibleToEveryone.
type Visibility string

// Visibilities, from the widest audience to the narrowest.
const (
	VisibleToEveryone Visibility = "everyone"
	// VisibleToSelf: the person, helpdesk and administrators.
	VisibleToSelf Visibility = "self"
	// VisibleToHelpdesk: helpdesk and administrators.
	VisibleToHelpdesk Visibility = "helpdesk"
	VisibleToAdmins   Visibility = "admin"
)

// Attribute is one row of the person attribute table: what the attribute
// is called, holds and may be, where it is stored, and who may see and
// change it. Forms, request validation, policies, the rule language, the
// membership SQL and the sync flows all read it from the Schema.
type Attribute struct {
	// Name is how rules, requests, policies and sync flows name it:
	// person.givenName, {"givenName": "Ada"}.
	Name  string
	Label string
	Type  string // TypeString, TypeStrings, TypeInt, TypeBool, TypeDate or TypeReference
	// MaxLen is the longest value in characters (of each value, for
	// TypeStrings), 0 when unbounded; the people table's checks say the
	// same for the core attributes.
	MaxLen int
	// Min and Max bound a TypeInt attribute's values; nil: unbounded.
	Min, Max *int64
	// Required: a request may not empty it.
	Required bool
	// Column is its column in the people table; an attribute without one is
	// an extra attribute, kept in people.extra under its name. Only
	// columns from this table ever reach SQL text.
	Column string
	// Nullable: the column may be NULL (read as "").
	Nullable   bool
	Visibility Visibility
	// Editable: a request (update_person) may change it, so a policy may
	// cover it and the profile edit form offers it; of an extra attribute,
	// that the person may ask to change it (a policy whose requestor is the
	// person themselves may cover it).
	Editable bool
	// Administered: a request may change it under a policy that covers it
	// (administrators set the manager, disable and enable people, and
	// change anyone's extra attributes), but the profile edit form never
	// offers it to the person.
	Administered bool
	// Identifier: it names the person uniquely and is set when the person
	// is created; no request or inbound flow changes it.
	Identifier bool
	// Filterable: the white pages filter people by the attribute's value
	// (every extra attribute is; of the core ones, those not already found
	// by the search words). The filter index, tessera_person_terms in
	// migrations/0039_attribute_filters.sql, holds exactly these.
	Filterable bool

	// text and flag reach the Person field of a core attribute; extra
	// attributes have neither and live in Person.Extra.
	text func(*Person) *string
	flag func(*Person) *bool
}

// Requestable reports whether a request (update_person) may change the
// attribute, so that a policy may cover it.
func (a *Attribute) Requestable() bool { return a.Editable || a.Administered }

// checkRequested checks a value a request gives the attribute: not empty
// when it is required, and of its type within its limits (CheckValue).
func (a *Attribute) checkRequested(v string) error {
	if a.Required && strings.TrimSpace(v) == "" {
		return Errorf(EINVALID, "The %s cannot be empty.", LowerLabel(a.Label))
	}
	_, err := a.CheckValue(v)
	return err
}

// Core reports whether the attribute is one of the people table's columns.
func (a *Attribute) Core() bool { return a.Column != "" }

// Privileged reports whether some people may not see the attribute.
func (a *Attribute) Privileged() bool { return a.Visibility != "" && a.Visibility != VisibleToEveryone }

// VisibleTo reports whether v may see the attribute of the person with ID
// personID.
func (a *Attribute) VisibleTo(v Viewer, personID string) bool {
	switch a.Visibility {
	case VisibleToEveryone, "":
		return true
	case VisibleToSelf:
		return v.SeesPrivileged() || v.PersonID != "" && v.PersonID == personID
	case VisibleToHelpdesk:
		return v.SeesPrivileged()
	}
	return v.Has(RoleAdmin)
}

// Joinable reports whether a sync join rule may match on the attribute:
// a text column.
func (a *Attribute) Joinable() bool { return a.Column != "" && a.Type == TypeString }

// InboundTarget reports whether a sync inbound flow may set the attribute:
// a column that does not identify the person and holds text, a flag
// ("true" or "false": an HR source enables and disables people), or a
// reference (the flow gives the other person's name in that system, which
// the engine resolves through its connector space); or an extra attribute
// an administrator added, of any type (its value is checked by CheckValue
// as the flow gives it; a reference's is resolved as the manager's is).
func (a *Attribute) InboundTarget() bool {
	if a.Column == "" {
		return true
	}
	return !a.Identifier && (a.Type == TypeString || a.Type == TypeBool || a.Type == TypeReference)
}

// Values returns p's values of the attribute: those of a multi-valued
// attribute, or the one value of any other (none when unset).
func (a *Attribute) Values(p *Person) []string {
	if a.Type == TypeStrings {
		return SplitValues(a.Text(p))
	}
	if v := a.Text(p); v != "" {
		return []string{v}
	}
	return nil
}

// Text returns p's value of the attribute as text ("" when unset).
func (a *Attribute) Text(p *Person) string {
	switch {
	case a.text != nil:
		return *a.text(p)
	case a.flag != nil:
		return strconv.FormatBool(*a.flag(p))
	}
	return p.Extra[a.Name]
}

// SetText sets p's value of a text attribute (a core text column, or an
// extra attribute).
func (a *Attribute) SetText(p *Person, v string) {
	switch {
	case a.text != nil:
		*a.text(p) = v
	case a.flag != nil:
		*a.flag(p), _ = strconv.ParseBool(v)
	default:
		if p.Extra == nil {
			p.Extra = map[string]string{}
		}
		p.Extra[a.Name] = v
	}
}

// Field returns the field of p that holds a core attribute (a *string or a
// *bool), for a row scan to fill; nil for an extra attribute.
func (a *Attribute) Field(p *Person) any {
	switch {
	case a.text != nil:
		return a.text(p)
	case a.flag != nil:
		return a.flag(p)
	}
	return nil
}

// clear sets p's value of a core attribute to its zero value.
func (a *Attribute) clear(p *Person) {
	switch {
	case a.text != nil:
		*a.text(p) = ""
	case a.flag != nil:
		*a.flag(p) = false
	}
}

// SelectSQL is the SQL that reads a core attribute's column of the people
// row called alias as its Person field expects it: NULL as "", a
// reference as text. The column name comes from the table, never from
// input.
func (a *Attribute) SelectSQL(alias string) string {
	col := alias + "." + quoteIdent(a.Column)
	if a.Nullable {
		return "coalesce(" + col + "::text, '')"
	}
	return col
}

// quoteIdent quotes a SQL identifier as PostgreSQL reads it.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Bool returns p's value of a core boolean attribute.
func (a *Attribute) Bool(p *Person) bool { return a.flag != nil && *a.flag(p) }

func textAttr(a Attribute, f func(*Person) *string) Attribute { a.text = f; return a }

// coreAttributes are the people table's columns, in the order rules, the
// rule editor and the profile edit form list them. Their limits are the
// table's checks (migrations/0001_people_groups.sql).
var coreAttributes = []Attribute{
	textAttr(Attribute{Name: "accountName", Label: Mark("Account name"), Type: TypeString, MaxLen: 64, Required: true,
		Column: "account_name", Visibility: VisibleToHelpdesk, Identifier: true, Filterable: true},
		func(p *Person) *string { return &p.AccountName }),
	textAttr(Attribute{Name: "employeeId", Label: Mark("Employee ID"), Type: TypeString, MaxLen: 64,
		Column: "employee_id", Nullable: true, Visibility: VisibleToHelpdesk, Identifier: true, Filterable: true},
		func(p *Person) *string { return &p.EmployeeID }),
	textAttr(Attribute{Name: "givenName", Label: Mark("Given name"), Type: TypeString, MaxLen: 256,
		Column: "given_name", Visibility: VisibleToEveryone, Editable: true},
		func(p *Person) *string { return &p.GivenName }),
	textAttr(Attribute{Name: "surname", Label: Mark("Surname"), Type: TypeString, MaxLen: 256,
		Column: "surname", Visibility: VisibleToEveryone, Editable: true},
		func(p *Person) *string { return &p.Surname }),
	textAttr(Attribute{Name: "displayName", Label: Mark("Display name"), Type: TypeString, MaxLen: 256, Required: true,
		Column: "display_name", Visibility: VisibleToEveryone, Editable: true},
		func(p *Person) *string { return &p.DisplayName }),
	textAttr(Attribute{Name: "email", Label: Mark("Email"), Type: TypeString, MaxLen: 256,
		Column: "email", Visibility: VisibleToEveryone},
		func(p *Person) *string { return &p.Email }),
	textAttr(Attribute{Name: "title", Label: Mark("Title"), Type: TypeString, MaxLen: 256,
		Column: "title", Visibility: VisibleToEveryone, Editable: true, Filterable: true},
		func(p *Person) *string { return &p.Title }),
	textAttr(Attribute{Name: "department", Label: Mark("Department"), Type: TypeString, MaxLen: 256,
		Column: "department", Visibility: VisibleToEveryone, Editable: true, Filterable: true},
		func(p *Person) *string { return &p.Department }),
	textAttr(Attribute{Name: "office", Label: Mark("Office"), Type: TypeString, MaxLen: 256,
		Column: "office", Visibility: VisibleToEveryone, Editable: true, Filterable: true},
		func(p *Person) *string { return &p.Office }),
	textAttr(Attribute{Name: "phone", Label: Mark("Phone"), Type: TypeString, MaxLen: 64,
		Column: "phone", Visibility: VisibleToEveryone, Editable: true},
		func(p *Person) *string { return &p.Phone }),
	textAttr(Attribute{Name: "mobile", Label: Mark("Mobile"), Type: TypeString, MaxLen: 64,
		Column: "mobile", Visibility: VisibleToEveryone, Editable: true},
		func(p *Person) *string { return &p.Mobile }),
	// A UUID as text: 36 characters.
	textAttr(Attribute{Name: "managerId", Label: Mark("Manager"), Type: TypeReference, MaxLen: 36,
		Column: "manager_id", Nullable: true, Visibility: VisibleToEveryone, Administered: true, Filterable: true},
		func(p *Person) *string { return &p.ManagerID }),
	{Name: "enabled", Label: Mark("Account status"), Type: TypeBool, Column: "account_enabled", Visibility: VisibleToHelpdesk,
		Administered: true, Filterable: true, flag: func(p *Person) *bool { return &p.Enabled }},
}

// Schema is the person attribute table: the core attributes, then the
// extra attributes an administrator described (attribute_schema). It is
// immutable once built and safe for concurrent use.
type Schema struct {
	attrs    []Attribute
	byName   map[string]int
	editable []Attribute
	// requestable are the attributes a policy may cover: the editable
	// ones and the administered ones.
	requestable []Attribute
}

var coreSchema = NewSchema(nil)

// CoreSchema returns the schema of the core attributes alone: what
// validation and forms read while no extra attribute is editable.
func CoreSchema() *Schema { return coreSchema }

// NewSchema builds the table of the core attributes and the extra ones in
// extra. An extra attribute named like a core one is left out: the core
// meaning wins.
func NewSchema(extra []Attribute) *Schema {
	s := &Schema{attrs: slices.Clone(coreAttributes), byName: map[string]int{}}
	for _, a := range s.attrs {
		s.byName[a.Name] = len(s.byName)
	}
	for _, a := range extra {
		if _, ok := s.byName[a.Name]; ok {
			continue
		}
		// An extra attribute lives in Person.Extra, whatever it says, and
		// the filter index holds every one. Administrators (and helpdesk,
		// under a policy) change anyone's: the flag Editable says only
		// whether the person may ask to change their own.
		a.Column, a.Nullable, a.Identifier, a.text, a.flag = "", false, false, nil, nil
		a.Filterable, a.Administered = true, true
		if a.Visibility == "" {
			a.Visibility = VisibleToEveryone
		}
		s.byName[a.Name] = len(s.attrs)
		s.attrs = append(s.attrs, a)
	}
	for _, a := range s.attrs {
		if a.Editable {
			s.editable = append(s.editable, a)
		}
		if a.Requestable() {
			s.requestable = append(s.requestable, a)
		}
	}
	return s
}

// All returns every attribute, core attributes first.
func (s *Schema) All() []Attribute { return slices.Clone(s.attrs) }

// Extra returns the extra attributes.
func (s *Schema) Extra() []Attribute { return slices.Clone(s.attrs[len(coreAttributes):]) }

// Editable returns, in display order, the attributes a request may change.
func (s *Schema) Editable() []Attribute { return slices.Clone(s.editable) }

// Requestable returns, in display order, the attributes a policy may cover
// and a request change: the editable ones and those only administrators
// change (the manager, the account status).
func (s *Schema) Requestable() []Attribute { return slices.Clone(s.requestable) }

// Lookup returns the attribute called name. The attribute is the
// schema's own: read it, never change it.
func (s *Schema) Lookup(name string) (*Attribute, bool) {
	i, ok := s.byName[name]
	if !ok {
		return nil, false
	}
	return &s.attrs[i], true
}

// CoreSelectSQL reads every core attribute of the people row called alias,
// in the table's order: the select list that CoreFields scans.
func (s *Schema) CoreSelectSQL(alias string) string {
	cols := make([]string, 0, len(coreAttributes))
	for i := range coreAttributes {
		cols = append(cols, s.attrs[i].SelectSQL(alias))
	}
	return strings.Join(cols, ", ")
}

// CoreFields appends to dest the fields of p that a row read by
// CoreSelectSQL fills, in the same order.
func (s *Schema) CoreFields(p *Person, dest []any) []any {
	for i := range coreAttributes {
		dest = append(dest, s.attrs[i].Field(p))
	}
	return dest
}

// CoreColumns names the people table's columns of the core attributes, in
// the table's order: the columns a write of CoreValues fills.
func (s *Schema) CoreColumns() []string {
	cols := make([]string, 0, len(coreAttributes))
	for i := range coreAttributes {
		cols = append(cols, s.attrs[i].Column)
	}
	return cols
}

// CoreValues appends to dest p's values of the core attributes, in the
// order of CoreColumns; an empty value of a nullable column is nil (NULL).
func (s *Schema) CoreValues(p *Person, dest []any) []any {
	for i := range coreAttributes {
		a := &s.attrs[i]
		switch {
		case a.flag != nil:
			dest = append(dest, *a.flag(p))
		case a.Nullable && *a.text(p) == "":
			dest = append(dest, nil)
		default:
			dest = append(dest, *a.text(p))
		}
	}
	return dest
}

// Label names an attribute as people read it; an unknown one keeps its name.
func (s *Schema) Label(name string) string {
	if a, ok := s.Lookup(name); ok && a.Label != "" {
		return a.Label
	}
	return name
}

// index is the attribute's place in the table, -1 when there is none.
func (s *Schema) index(name string) int {
	if i, ok := s.byName[name]; ok {
		return i
	}
	return -1
}
