package hr

import (
	"context"
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
	changed      []syncsvc.ImportedObject // joiners, movers and leavers
	unchanged    []syncsvc.ImportedObject // the rest, for a full import
	// unchangedRows are the rest as the connector space has them: made
	// into objects only if a full import asks for them.
	unchangedRows []csRow
}

// sameValues reports whether every value of row is cur's already.
func sameValues(row, cur map[string]string) bool {
	for k, v := range row {
		if c, ok := cur[k]; !ok || c != v {
			return false
		}
	}
	return true
}

// OverThreshold reports whether the plan's leavers reach percent of the
// people HR had.
func (p *Plan) OverThreshold(percent int) bool {
	return p.ActiveBefore > 0 && len(p.Leavers)*100 >= percent*p.ActiveBefore
}

// csRow is an HR connector space object as a plan reads it.
type csRow struct {
	anchor string
	attrs  map[string]string // lower-case field → value
}

// loadSpace reads the HR system's connector space.
func loadSpace(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, systemID string) (map[string]csRow, error) {
	rows, err := q.Query(ctx, `SELECT anchor, attributes FROM cs_objects WHERE system_id = $1 AND anchor IS NOT NULL`, systemID)
	if err != nil {
		return nil, fmt.Errorf("hr: connector space: %w", err)
	}
	out := map[string]csRow{}
	var anchor string
	var raw []byte
	_, err = pgx.ForEachRow(rows, []any{&anchor, &raw}, func() error {
		var m map[string][]string
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		attrs := make(map[string]string, len(m))
		for k, v := range m {
			if len(v) > 0 {
				attrs[k] = v[0]
			} else {
				attrs[k] = ""
			}
		}
		out[lowerKey(anchor)] = csRow{anchor: anchor, attrs: attrs}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hr: connector space: %w", err)
	}
	return out, nil
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

// planInput is what a plan is made from.
type planInput struct {
	settings Settings
	rows     []Row
	refused  []Refusal
	// partial: the rows are some of HR's people (a SCIM bulk request), so
	// a person missing from them has not left.
	partial bool
	now     time.Time
	space   map[string]csRow
	limits  limits
	// schema is the live attribute schema: a column mapped to an extra
	// attribute is checked as that attribute says.
	schema *portal.Schema
	// taken reports account names people have already (lower case).
	taken func(names []string) (map[string]bool, error)
}

// makePlan checks each row, computes its fields, and compares it with the
// connector space.
func makePlan(in planInput) (*Plan, error) {
	loc, err := time.LoadLocation(in.settings.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	y, m, d := in.now.In(loc).Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	p := &Plan{Refused: slices.Clone(in.refused)}
	mapped := map[string]bool{}
	extras := map[string]*portal.Attribute{}
	for f := range in.settings.Columns {
		mapped[f] = true
		if in.schema != nil {
			if a, ok := extraField(in.schema, f); ok {
				extras[f] = a
			}
		}
	}
	seen := map[string]int{} // folded employee ID → line
	type good struct {
		row   Row
		key   string
		attrs map[string]string
	}
	var goods []good
	for _, r := range in.rows {
		p.Rows++
		v := r.Values
		refuse := func(reason portal.Text) {
			p.Refused = append(p.Refused, refusal(r.Line, reason))
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
		_, known := in.space[key]
		if !known && !start.IsZero() && start.After(today.AddDate(0, 0, in.settings.PrehireDays)) {
			refuse(portal.Textf("starts on %s: joiners are imported %d days before their start date", v[FieldStartDate], in.settings.PrehireDays))
			continue
		}
		attrs := map[string]string{}
		for f := range mapped {
			// A bulk request leaves out what it does not change, and so
			// does a file without the column: a file of names and titles
			// leaves everyone's email as it is.
			if _, ok := v[f]; ok {
				attrs[strings.ToLower(f)] = v[f]
			}
		}
		attrs["employeeid"] = id
		if attrs["displayname"] == "" && (v[FieldGivenName] != "" || v[FieldSurname] != "") {
			attrs["displayname"] = strings.TrimSpace(v[FieldGivenName] + " " + v[FieldSurname])
		}
		if !known && attrs["displayname"] == "" {
			refuse(portal.Textf("it has no name: map the display name or the given name and surname"))
			continue
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
		goods = append(goods, good{r, key, attrs})
	}
	// Account names of joiners: the file's, or made from their names,
	// unique among people and among this file's joiners.
	var want []string
	for _, g := range goods {
		if _, known := in.space[g.key]; known {
			continue
		}
		if g.attrs["accountname"] == "" {
			g.attrs["accountname"] = accountBase(g.row.Values[FieldGivenName], g.row.Values[FieldSurname], g.row.Values[FieldEmployeeID])
		}
		want = append(want, strings.ToLower(g.attrs["accountname"]))
	}
	taken := map[string]bool{}
	if len(want) > 0 && in.taken != nil {
		var err error
		if taken, err = in.taken(want); err != nil {
			return nil, err
		}
	}
	inFile := map[string]bool{}
	for _, g := range goods {
		inFile[g.key] = true
		cur, known := in.space[g.key]
		if !known {
			if !mapped[FieldAccountName] {
				base, name := g.attrs["accountname"], g.attrs["accountname"]
				for n := 2; taken[strings.ToLower(name)]; n++ {
					suffix := strconv.Itoa(n)
					name = base[:min(len(base), 20-len(suffix))] + suffix
				}
				g.attrs["accountname"] = name
			}
			taken[strings.ToLower(g.attrs["accountname"])] = true
			p.Joiners = append(p.Joiners, g.row.Values[FieldEmployeeID])
			p.changed = append(p.changed, object(g.row.Values[FieldEmployeeID], g.attrs))
			continue
		}
		if cur.attrs["active"] != "false" {
			p.ActiveBefore++
		}
		// A joined person keeps the account name they have.
		if a, ok := cur.attrs["accountname"]; ok {
			g.attrs["accountname"] = a
		}
		// Most rows of a file are as HR had them: compared in place, they
		// cost no copy (a file of 100,000 rows with 100 changes).
		if sameValues(g.attrs, cur.attrs) {
			p.unchangedRows = append(p.unchangedRows, cur)
			continue
		}
		merged := maps.Clone(cur.attrs)
		maps.Copy(merged, g.attrs)
		switch {
		case cur.attrs["active"] == "false" && g.attrs["active"] == "true":
			p.Joiners = append(p.Joiners, cur.anchor) // a rehire: the same person comes back
		case cur.attrs["active"] != "false" && g.attrs["active"] == "false":
			p.Leavers = append(p.Leavers, cur.anchor)
		default:
			p.Movers = append(p.Movers, cur.anchor)
		}
		p.changed = append(p.changed, object(cur.anchor, merged))
	}
	for key, cur := range in.space {
		if inFile[key] {
			continue
		}
		if cur.attrs["active"] == "false" {
			p.unchangedRows = append(p.unchangedRows, cur)
			continue
		}
		if in.partial {
			p.ActiveBefore++
			p.unchangedRows = append(p.unchangedRows, cur)
			continue
		}
		p.ActiveBefore++
		// Gone from the file: they left. Their row stays, inactive, so
		// that a rehire finds the same person.
		gone := maps.Clone(cur.attrs)
		gone["active"] = "false"
		p.Leavers = append(p.Leavers, cur.anchor)
		p.changed = append(p.changed, object(cur.anchor, gone))
	}
	slices.Sort(p.Leavers)
	slices.SortFunc(p.Refused, func(a, b Refusal) int { return a.Line - b.Line })
	return p, nil
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
