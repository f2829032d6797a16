package portal

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SchemaService keeps the person attribute table that administrators
// extend at run time (Administration → Schema): the extra attributes, kept
// in people.extra. Every change is audited; a change that would break a
// rule that uses the attribute is refused with an *AttributeInUseError.
type SchemaService interface {
	// Schema returns the live person attribute table: the core attributes
	// and the extra ones.
	Schema(ctx context.Context) (*Schema, error)
	// FindAttribute returns the extra attribute called name.
	FindAttribute(ctx context.Context, name string) (*Attribute, error)
	// AttributeUses lists the rules, policies and sync flows that use the
	// attribute called name.
	AttributeUses(ctx context.Context, name string) ([]AttributeUse, error)
	// AddAttribute adds the extra attribute a.
	AddAttribute(ctx context.Context, v Viewer, a Attribute) error
	// UpdateAttribute changes the label, type, limits, visibility or
	// editability of the extra attribute a.Name.
	UpdateAttribute(ctx context.Context, v Viewer, a Attribute) error
	// RemoveAttribute removes the extra attribute called name, and every
	// person's value of it.
	RemoveAttribute(ctx context.Context, v Viewer, name string) error
}

// AttributeTypes are the types an administrator may give an extra
// attribute, in the order the schema page offers them, with their labels.
var AttributeTypes = []struct{ Type, Label string }{
	{TypeString, Mark("Text")},
	{TypeStrings, Mark("Text, several values")},
	{TypeInt, Mark("Whole number")},
	{TypeDate, Mark("Date")},
	{TypeBool, Mark("Yes or no")},
	{TypeReference, Mark("Reference to a person")},
}

// TypeLabel names an attribute type as administrators read it.
func TypeLabel(typ string) string {
	for _, t := range AttributeTypes {
		if t.Type == typ {
			return t.Label
		}
	}
	return typ
}

// Visibilities are the audiences an attribute may have, as the schema page
// offers them.
var Visibilities = []struct {
	Visibility Visibility
	Label      string
}{
	{VisibleToEveryone, Mark("Everyone")},
	{VisibleToSelf, Mark("The person, helpdesk and administrators")},
	{VisibleToHelpdesk, Mark("Helpdesk and administrators")},
	{VisibleToAdmins, Mark("Administrators")},
}

// Limits of an extra attribute's definition. A name reaches CEL rules,
// JSON, LDAP attribute lists and Entra ID: MaxAttributeName is the
// shortest of their limits (Entra ID custom security attribute names take
// at most 32 characters).
const (
	MaxAttributeName  = 32
	MaxAttributeLabel = 100
	// MaxAttributeLen is the longest value of an extra text attribute (each
	// value of a multi-valued one); AD's own text attributes rarely take
	// more than this.
	MaxAttributeLen = 1024
	// DefaultAttributeLen is the length limit of a new text attribute.
	DefaultAttributeLen = 256
	// MaxAttributeValues bounds how many values a multi-valued attribute
	// holds.
	MaxAttributeValues = 50
)

// attributeName: an ASCII letter first, then letters and digits. That is a
// CEL identifier, an AD lDAPDisplayName (which also allows hyphens, which
// CEL does not), a JSON key with no escaping, and an Entra ID attribute
// name.
var attributeName = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// celReserved are the words CEL reserves: an attribute so named could not
// be written person.name in a rule.
var celReserved = []string{"as", "break", "const", "continue", "else", "false", "for", "function", "if",
	"import", "in", "let", "loop", "namespace", "null", "package", "return", "true", "var"}

// reservedChangeKeys are the keys a request's changes hold beside the
// attributes (EndDateKey in a create_person request): an attribute so
// named would be read as that key, its value as a last day.
var reservedChangeKeys = []string{EndDateKey}

// ValidateDefinition checks a new or changed extra attribute against the
// live schema s: its name against every system it may reach, its label,
// type, limits and visibility. It normalises a: limits that do not apply
// to its type are cleared, a text attribute without a length limit gets
// the default one.
func (a *Attribute) ValidateDefinition(s *Schema, adding bool) error {
	a.Label = strings.TrimSpace(a.Label)
	switch n := a.Name; {
	case n == "":
		return Errorf(EINVALID, "Give the attribute a name, such as costCenter.")
	case len(n) > MaxAttributeName:
		return Errorf(EINVALID, "The name is too long (%d characters); use at most %d, as Entra ID takes.", len(n), MaxAttributeName)
	case !attributeName.MatchString(n):
		return Errorf(EINVALID, "The name %q may hold only the letters a to z, A to Z and the digits 0 to 9, and starts with a lower-case letter (costCenter): rules, AD and Entra ID all read it.", n)
	case slices.Contains(celReserved, n):
		return Errorf(EINVALID, "%q is a reserved word of the rule language; choose another name.", n)
	case slices.ContainsFunc(reservedChangeKeys, func(k string) bool { return strings.EqualFold(k, n) }):
		return Errorf(EINVALID, "%q is a name Tessera keeps for a person's last day; choose another name.", n)
	}
	if adding {
		for _, o := range s.attrs {
			// AD compares attribute names without regard to case.
			if strings.EqualFold(o.Name, a.Name) {
				if o.Core() {
					return Errorf(ECONFLICT, "%q is a built-in attribute (%s).", o.Name, o.Label)
				}
				return Errorf(ECONFLICT, "There is already an attribute called %q.", o.Name)
			}
		}
	}
	switch l := utf8.RuneCountInString(a.Label); {
	case l == 0:
		return Errorf(EINVALID, "Give the attribute a label: what people read on a profile.")
	case l > MaxAttributeLabel:
		return Errorf(EINVALID, "The label is too long (%d characters); use at most %d.", l, MaxAttributeLabel)
	case strings.IndexFunc(a.Label, func(r rune) bool { return unicode.IsControl(r) }) >= 0:
		return Errorf(EINVALID, "The label may not hold control characters.")
	}
	if !slices.ContainsFunc(AttributeTypes, func(t struct{ Type, Label string }) bool { return t.Type == a.Type }) {
		return Errorf(EINVALID, "Choose the attribute's type.")
	}
	if a.Visibility == "" {
		a.Visibility = VisibleToEveryone
	}
	if !slices.ContainsFunc(Visibilities, func(v struct {
		Visibility Visibility
		Label      string
	}) bool {
		return v.Visibility == a.Visibility
	}) {
		return Errorf(EINVALID, "Choose who may see the attribute.")
	}
	switch a.Type {
	case TypeString, TypeStrings:
		if a.MaxLen == 0 {
			a.MaxLen = DefaultAttributeLen
		}
		if a.MaxLen < 1 || a.MaxLen > MaxAttributeLen {
			return Errorf(EINVALID, "The longest value must be between 1 and %d characters.", MaxAttributeLen)
		}
	case TypeReference:
		a.MaxLen = 36 // a person's ID
	default:
		a.MaxLen = 0
	}
	if a.Type != TypeInt {
		a.Min, a.Max = nil, nil
	} else if a.Min != nil && a.Max != nil && *a.Min > *a.Max {
		return Errorf(EINVALID, "The smallest value (%d) is greater than the largest (%d).", *a.Min, *a.Max)
	}
	a.Column, a.Nullable, a.Required, a.Identifier = "", false, false, false
	return nil
}

// CheckValue checks v as a value of the attribute (an empty v clears it):
// its type and limits. It returns the value as stored: a number or date
// in its canonical form, a multi-valued attribute's values one a line.
func (a *Attribute) CheckValue(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", nil
	}
	label := LabelOf(a.Label)
	if a.Label == "" {
		label = LabelOf(a.Name)
	}
	switch a.Type {
	case TypeString:
		if strings.ContainsAny(v, "\r\n") {
			return "", Errorf(EINVALID, "%s takes one line of text.", label)
		}
		if n := utf8.RuneCountInString(v); a.MaxLen > 0 && n > a.MaxLen {
			return "", Errorf(EINVALID, "%s is too long (%d characters); it takes at most %d.", label, n, a.MaxLen)
		}
	case TypeStrings:
		vals := SplitValues(v)
		if len(vals) > MaxAttributeValues {
			return "", Errorf(EINVALID, "%s holds at most %d values.", label, MaxAttributeValues)
		}
		for _, s := range vals {
			if n := utf8.RuneCountInString(s); a.MaxLen > 0 && n > a.MaxLen {
				return "", Errorf(EINVALID, "A value of %s is too long (%d characters); each takes at most %d.", label, n, a.MaxLen)
			}
		}
		return JoinValues(vals), nil
	case TypeInt:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", Errorf(EINVALID, "%s takes a whole number, such as 42.", label)
		}
		if a.Min != nil && n < *a.Min || a.Max != nil && n > *a.Max {
			return "", Errorf(EINVALID, "%s must be %s.", label, a.RangeLabel())
		}
		return strconv.FormatInt(n, 10), nil
	case TypeDate:
		t, err := time.Parse(time.DateOnly, v)
		if err != nil {
			return "", Errorf(EINVALID, "%s takes a date written YYYY-MM-DD.", label)
		}
		return t.Format(time.DateOnly), nil
	case TypeBool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", Errorf(EINVALID, "%s takes true or false.", label)
		}
		return strconv.FormatBool(b), nil
	case TypeReference:
		if !validUUID(v) {
			return "", Errorf(EINVALID, "%s takes a person.", label)
		}
		return strings.ToLower(v), nil
	}
	return v, nil
}

// RangeLabel says which whole numbers the attribute takes (empty when
// any), as a Text that pages and errors write in their reader's language.
func (a *Attribute) RangeLabel() Text {
	switch {
	case a.Min != nil && a.Max != nil:
		return Textf("between %d and %d", *a.Min, *a.Max)
	case a.Min != nil:
		return Textf("at least %d", *a.Min)
	case a.Max != nil:
		return Textf("at most %d", *a.Max)
	}
	return Text{}
}

// SplitValues reads the values of a multi-valued attribute, kept one a
// line (a value never holds a line break: the form decoder refuses them
// in single-line fields). Empty lines are dropped and repeated values kept
// once, in their first place.
func SplitValues(s string) []string {
	var out []string
	for _, v := range strings.Split(s, "\n") {
		v = strings.TrimSpace(v)
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// JoinValues keeps the values of a multi-valued attribute as one text, one
// value a line.
func JoinValues(vals []string) string { return strings.Join(vals, "\n") }

// validUUID reports whether s is a UUID in its textual form.
func validUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}

// AttributeUse is one place that uses an attribute: a set's or dynamic
// group's rule, a policy, or a sync rule of a connected system.
type AttributeUse struct {
	Kind UseKind
	// ID is the set's, group's or policy's, or the connected system's for
	// its sync rule of people.
	ID   string
	Name string
	// Where says where in it, for a sync rule ("outbound flow to mail").
	Where Text
}

// UseKind says what uses an attribute.
type UseKind string

// What may use an attribute.
const (
	UseSet          UseKind = "set"
	UseDynamicGroup UseKind = "dynamic group"
	UsePolicy       UseKind = "policy"
	UseSyncRule     UseKind = "sync rule of"
)

// Text names the use as the schema page and a refusal write it, in the
// reader's language: "Set Finance staff", "User sync rule of Corp AD (join
// on employeeID)".
func (u AttributeUse) Text() Text {
	switch u.Kind {
	case UseSet:
		return Textf("Set %s", u.Name)
	case UseDynamicGroup:
		return Textf("Dynamic group %s", u.Name)
	case UsePolicy:
		return Textf("Policy %s", u.Name)
	}
	return Textf("User sync rule of %s (%s)", u.Name, u.Where)
}

// AttributeInUseError refuses to remove or retype an attribute that rules
// use, and lists them. It is an ECONFLICT error.
type AttributeInUseError struct {
	Name string
	Uses []AttributeUse
}

func (e *AttributeInUseError) Error() string { return e.Unwrap().Error() }

// Unwrap gives the portal error with the message people read.
func (e *AttributeInUseError) Unwrap() error {
	names := make([]Text, len(e.Uses))
	for i, u := range e.Uses {
		names[i] = u.Text()
	}
	return Errorf(ECONFLICT, "%s is used by %s; change them first.", e.Name, JoinTexts(names, "; "))
}
