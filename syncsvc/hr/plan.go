package hr

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// Plan is what applying an HR file (or bulk request) would do to the HR
// connector space: its preview, and the objects its import reports.
type Plan struct {
	Rows    int
	Joiners []string // employee IDs new to HR, or back after they left (a rehire)
	Movers  []string // employee IDs whose fields changed
	Leavers []string // employee IDs that left: gone from the file, or past their end date
	Refused []Refusal
	// ActiveBefore is how many people HR had before; a file whose leavers
	// reach the threshold's share of them stops for a confirmation.
	ActiveBefore int
	// unchanged are the space's objects, for a full import (Opener).
	unchanged []syncsvc.ImportedObject
	// checks is the digest of what the rows were checked against
	// (checksDigest).
	checks []byte
}

// OverThreshold reports whether the plan's leavers reach percent of the
// people HR had.
func (p *Plan) OverThreshold(percent int) bool {
	return p.ActiveBefore > 0 && len(p.Leavers)*100 >= percent*p.ActiveBefore
}

// limits are the longest value each field may have: the portal's own
// limit, and the tightest of every connected system the attribute is
// exported to (syncsvc/limits.go derives those), with who sets it.
type limits map[string]limit

type limit struct {
	max int
	by  string
}

func loadLimits(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, systemID string) (limits, error) {
	out := limits{}
	for _, a := range portal.CoreSchema().All() {
		if a.MaxLen > 0 {
			out[a.Name] = limit{a.MaxLen, "Tessera"}
		}
	}
	out[FieldManager] = out[FieldEmployeeID]
	rows, err := q.Query(ctx, `SELECT l.attribute, l.max_len, s.name || ' (' || l.cs_attribute || ')' FROM person_attribute_limits l
		JOIN connected_systems s ON s.id = l.system_id WHERE l.system_id <> $1`, systemID)
	if err != nil {
		return nil, fmt.Errorf("hr: attribute limits: %w", err)
	}
	var attr, by string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&attr, &n, &by}, func() error {
		if cur, ok := out[attr]; !ok || n < cur.max {
			out[attr] = limit{n, by}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hr: attribute limits: %w", err)
	}
	return out, nil
}

// checksDigest is what rows are checked against besides the settings
// (which change the space's version): the limits and the extra
// attributes' definitions, as one value. A preview's staging is taken
// as it is only while it stays the same.
func checksDigest(lim limits, schema *portal.Schema) ([]byte, error) {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(lim)) {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", name, lim[name].max, lim[name].by)
	}
	extra, err := json.Marshal(schema.Extra())
	if err != nil {
		return nil, fmt.Errorf("hr: attribute schema: %w", err)
	}
	h.Write(extra)
	return h.Sum(nil), nil
}

// planInput is what a plan is made from.
type planInput struct {
	settings Settings
	rows     []Row
	refused  []Refusal
	// partial: the rows are some of HR's people (a SCIM bulk request), so
	// a person missing from them has not left.
	partial bool
	now     time.Time
	limits  limits
	// schema is the live attribute schema: a column mapped to an extra
	// attribute is checked as that attribute says.
	schema *portal.Schema
	// keep, given a row that passed its checks, may complete its
	// attributes and says whether it goes on to the comparison; nil: every
	// row does. Its Attrs are kept only then (a row that goes no further
	// costs no map of its own).
	keep func(*stagedRow) bool
}

// stagedRow is a row that passed the checks a row makes by itself, as
// it is staged for the comparison with the connector space.
type stagedRow struct {
	Line  int
	ID    string
	Key   string
	Attrs map[string]string
	// RefuseNew is why the row is refused if its employee is new to HR.
	RefuseNew portal.Text
	// csID is its object in the HR connector space (nil: new to HR), and
	// digest that of its attributes (rowDigest), set by stagePlan.
	csID   *int64
	digest []byte
}

// checkRows checks each row by itself and computes its fields; what
// depends on the connector space (joiner or not) is left to the staged
// comparison (stage.go).
func checkRows(in planInput) (rows int, staged []stagedRow, refused []Refusal) {
	loc, err := time.LoadLocation(in.settings.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	y, m, d := in.now.In(loc).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	refused = slices.Clone(in.refused)
	// The mapped fields with their attribute names, worked out once: a
	// file of 100,000 rows reads each of them in every row.
	type field struct{ name, attr string }
	mapped := make([]field, 0, len(in.settings.Columns))
	extras := map[string]*portal.Attribute{}
	for f := range in.settings.Columns {
		mapped = append(mapped, field{f, strings.ToLower(f)})
		if in.schema != nil {
			if a, ok := extraField(in.schema, f); ok {
				extras[f] = a
			}
		}
	}
	seen := make(map[string]int, len(in.rows)) // folded employee ID → line
	scratch := make(map[string]string, len(mapped)+4)
	if in.keep == nil {
		// Every row that passes is kept: grown by appending, the rows of a
		// file of 100,000 were copied over and over.
		staged = make([]stagedRow, 0, len(in.rows))
	}
	for _, r := range in.rows {
		rows++
		v := r.Values
		refuse := func(reason portal.Text) {
			refused = append(refused, refusal(r.Line, reason))
		}
		id := v[FieldEmployeeID]
		key := strings.ToLower(id)
		if id == "" {
			refuse(portal.Textf("it has no employee ID"))
			continue
		}
		if line, dup := seen[key]; dup {
			refuse(portal.Textf("employee ID %s is on line %d already", id, line))
			continue
		}
		seen[key] = r.Line
		if reason := checkFields(v, in.limits); !reason.IsZero() {
			refuse(reason)
			continue
		}
		if reason := checkExtras(v, extras); !reason.IsZero() {
			refuse(reason)
			continue
		}
		start, ok1 := parseDate(v[FieldStartDate])
		end, ok2 := parseDate(v[FieldEndDate])
		switch {
		case !ok1:
			refuse(portal.Textf("the start date %q is not a date as YYYY-MM-DD", v[FieldStartDate]))
			continue
		case !ok2:
			refuse(portal.Textf("the end date %q is not a date as YYYY-MM-DD", v[FieldEndDate]))
			continue
		case !start.IsZero() && !end.IsZero() && end.Before(start):
			refuse(portal.Textf("the end date %s is before the start date %s", v[FieldEndDate], v[FieldStartDate]))
			continue
		case strings.EqualFold(v[FieldManager], id):
			refuse(portal.Textf("employee %s is named as their own manager", id))
			continue
		}
		sr := stagedRow{Line: r.Line, ID: id, Key: key}
		if !start.IsZero() && start.After(today.AddDate(0, 0, in.settings.PrehireDays)) {
			sr.RefuseNew = portal.Textf("starts on %s: joiners are imported %d days before their start date", v[FieldStartDate], in.settings.PrehireDays)
		}
		attrs := scratch
		clear(attrs)
		for _, f := range mapped {
			// A bulk request leaves out what it does not change, and so
			// does a file without the column: a file of names and titles
			// leaves everyone's email as it is.
			if s, ok := v[f.name]; ok {
				attrs[f.attr] = s
			}
		}
		attrs["employeeid"] = id
		if attrs["displayname"] == "" && (v[FieldGivenName] != "" || v[FieldSurname] != "") {
			attrs["displayname"] = strings.TrimSpace(v[FieldGivenName] + " " + v[FieldSurname])
		}
		if sr.RefuseNew.IsZero() && attrs["displayname"] == "" {
			sr.RefuseNew = portal.Textf("it has no name: map the display name or the given name and surname")
		}
		if s, ok := in.limits[FieldDisplayName]; ok && utf8.RuneCountInString(attrs["displayname"]) > s.max {
			refuse(portal.Textf("the display name made of the given name and surname is longer than %s takes (%d characters)", s.by, s.max))
			continue
		}
		// Dates in the row are in every import, so that a timer can
		// re-read them; a source that says "inactive" outright keeps it.
		attrs["startdate"], attrs["enddate"] = v[FieldStartDate], v[FieldEndDate]
		if a, ok := v[FieldActive]; ok {
			attrs["inactive"] = strconv.FormatBool(a == "false")
		}
		attrs["active"] = strconv.FormatBool(activeOn(attrs, today))
		sr.Attrs = attrs
		if in.keep != nil && !in.keep(&sr) {
			continue
		}
		sr.Attrs = maps.Clone(attrs)
		staged = append(staged, sr)
	}
	return rows, staged, refused
}

// object is an HR row as its import reports it: its employee ID is its
// anchor and its DN, the name by which other rows refer to it.
func object(anchor string, attrs map[string]string) syncsvc.ImportedObject {
	out := make(map[string][]string, len(attrs))
	for k, v := range attrs {
		if v == "" {
			out[k] = []string{}
		} else {
			out[k] = []string{v}
		}
	}
	return syncsvc.ImportedObject{Anchor: anchor, DN: anchor, Class: syncsvc.ObjectUser, Attributes: out}
}

// checkFields says why a row's values cannot be taken, or nothing (a zero
// Text).
func checkFields(v map[string]string, lim limits) portal.Text {
	for _, f := range Fields {
		s, ok := v[f]
		if !ok || s == "" {
			continue
		}
		if strings.ContainsFunc(s, unicode.IsControl) {
			return portal.Textf("%s holds a control character", portal.LabelOf(FieldLabel(f)))
		}
		if l, ok := lim[f]; ok && utf8.RuneCountInString(s) > l.max {
			return portal.Textf("%s is %d characters long; %s takes at most %d", portal.LabelOf(FieldLabel(f)), utf8.RuneCountInString(s), l.by, l.max)
		}
	}
	return portal.Text{}
}

// checkExtras checks, and normalises in v, the values of the extra
// attributes a row's columns map to; it says why one cannot be taken, or
// nothing (a zero Text).
func checkExtras(v map[string]string, extras map[string]*portal.Attribute) portal.Text {
	for f, a := range extras {
		s, ok := v[f]
		if !ok {
			continue
		}
		// Several values are kept one a line (a quoted cell's lines, a
		// SCIM list's values).
		if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && (r != '\n' || a.Type != portal.TypeStrings) }) {
			return portal.Textf("%s holds a control character", portal.LabelOf(a.Label))
		}
		if a.Type == portal.TypeReference {
			// The other person's employee ID, resolved as the manager's
			// is (through the HR connector space, now or when they
			// arrive).
			if n := utf8.RuneCountInString(strings.TrimSpace(s)); n > 64 {
				return portal.Textf("%s names an employee ID of %d characters; it takes at most 64", portal.LabelOf(a.Label), n)
			}
			v[f] = strings.TrimSpace(s)
			continue
		}
		norm, err := a.CheckValue(s)
		if err != nil {
			return portal.Reason(err)
		}
		v[f] = norm
	}
	return portal.Text{}
}

// lowerKey is how plans key employee IDs: without regard to case, as
// joins compare them.
func lowerKey(id string) string { return strings.ToLower(id) }
