// Package hr is the HR source of truth as a connected system: a CSV file
// (dropped in a watched folder, uploaded, or given to `tessera hr import`)
// or a SCIM bulk request, read into the HR system's connector space and
// synced by the engine like any other system: joined on the employee ID,
// joiners projected, HR's inbound flows authoritative for names, job,
// department, manager and dates.
package hr

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/tessera-idm/tessera/portal"
)

// Fields of an HR row: the names of the HR connector space's attributes
// and of the column mapping. Each is read into the person attribute of the
// same name, except manager (the manager's employee ID), the dates, and
// active, which the HR source computes.
const (
	FieldEmployeeID  = "employeeId"
	FieldAccountName = "accountName"
	FieldGivenName   = "givenName"
	FieldSurname     = "surname"
	FieldDisplayName = "displayName"
	FieldEmail       = "email"
	FieldTitle       = "title"
	FieldDepartment  = "department"
	FieldOffice      = "office"
	FieldPhone       = "phone"
	FieldMobile      = "mobile"
	FieldManager     = "manager"
	FieldStartDate   = "startDate"
	FieldEndDate     = "endDate"
	// FieldActive is "true" or "false": whether the person works here
	// today, from the dates (and, over SCIM, the active flag).
	FieldActive = "active"
)

// Fields lists the fields a column can map to, in the order the admin
// page shows them.
var Fields = []string{FieldEmployeeID, FieldGivenName, FieldSurname, FieldDisplayName, FieldEmail, FieldTitle, FieldDepartment,
	FieldOffice, FieldPhone, FieldMobile, FieldManager, FieldStartDate, FieldEndDate, FieldAccountName}

// FieldLabel names a field as administrators read it.
func FieldLabel(f string) string {
	switch f {
	case FieldManager:
		return portal.Mark("Manager's employee ID")
	case FieldStartDate:
		return portal.Mark("Start date")
	case FieldEndDate:
		return portal.Mark("End date")
	}
	return portal.CoreSchema().Label(f)
}

// DefaultColumns maps each field to the column header an HR export
// usually gives it.
func DefaultColumns() map[string]string {
	return map[string]string{
		FieldEmployeeID: "EmployeeID", FieldGivenName: "FirstName", FieldSurname: "LastName", FieldDisplayName: "DisplayName",
		FieldEmail: "Email", FieldTitle: "JobTitle", FieldDepartment: "Department", FieldOffice: "Office", FieldPhone: "Phone",
		FieldMobile: "Mobile", FieldManager: "ManagerID", FieldStartDate: "StartDate", FieldEndDate: "EndDate",
	}
}

// Settings say how an HR source reads its files and when it stops.
type Settings struct {
	SystemID string
	// Folder is watched for *.csv files; empty: no folder.
	Folder    string
	Delimiter rune   // ',', ';', '\t' or '|'
	Encoding  string // auto (UTF-8, else Latin-1), utf-8 or latin-1
	// Columns maps a field to its column header; a field without one is
	// not read (and not changed).
	Columns map[string]string
	// LeaverThreshold stops a file whose leavers are at least this
	// percentage of the people HR had, until an administrator confirms.
	LeaverThreshold int
	// PrehireDays: a joiner is imported this many days before their start
	// date, disabled until then.
	PrehireDays int
	// TimeZone is the organisation's, in which dates begin and end.
	TimeZone string
}

// ExtraFields are the extra attributes of schema (Administration →
// Schema) a column can map to: those an inbound flow may set. Such a
// field's values are checked as the attribute says, and the HR rule gets
// an inbound flow for it.
func ExtraFields(schema *portal.Schema) []portal.Attribute {
	var out []portal.Attribute
	for _, a := range schema.Extra() {
		if a.InboundTarget() {
			out = append(out, a)
		}
	}
	return out
}

// extraField returns the extra attribute field f maps to, if it is one.
func extraField(schema *portal.Schema, f string) (*portal.Attribute, bool) {
	if slices.Contains(Fields, f) || f == FieldActive {
		return nil, false
	}
	a, ok := schema.Lookup(f)
	if !ok || a.Core() || !a.InboundTarget() {
		return nil, false
	}
	return a, true
}

// Validate checks s against the live attribute schema and fills its
// defaults.
func (s *Settings) Validate(schema *portal.Schema) error {
	s.Folder = strings.TrimSpace(s.Folder)
	if s.Delimiter == 0 {
		s.Delimiter = ','
	}
	if s.Encoding == "" {
		s.Encoding = "auto"
	}
	if s.LeaverThreshold == 0 {
		s.LeaverThreshold = 10
	}
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	switch {
	case !slices.Contains([]rune{',', ';', '\t', '|'}, s.Delimiter):
		return portal.Errorf(portal.EINVALID, "The delimiter is a comma, a semicolon, a tab or a vertical bar.")
	case !slices.Contains([]string{"auto", "utf-8", "latin-1"}, s.Encoding):
		return portal.Errorf(portal.EINVALID, "The encoding is automatic, UTF-8 or Latin-1, not %q.", s.Encoding)
	case s.LeaverThreshold < 1 || s.LeaverThreshold > 100:
		return portal.Errorf(portal.EINVALID, "The leaver threshold is from 1 to 100 %%.")
	case s.PrehireDays < 0 || s.PrehireDays > 365:
		return portal.Errorf(portal.EINVALID, "Pre-hire days are from 0 to 365.")
	case len(s.Folder) > 4096 || strings.ContainsFunc(s.Folder, unicode.IsControl):
		return portal.Errorf(portal.EINVALID, "The folder is not a usable path.")
	case s.Folder != "" && !strings.HasPrefix(s.Folder, "/"):
		return portal.Errorf(portal.EINVALID, "The folder must be an absolute path, such as /srv/hr/inbox.")
	}
	if _, err := time.LoadLocation(s.TimeZone); err != nil {
		return portal.Errorf(portal.EINVALID, "%q is not a time zone (such as Europe/London).", s.TimeZone)
	}
	cols := map[string]string{}
	for f, c := range s.Columns {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		label := FieldLabel(f)
		if a, ok := extraField(schema, f); ok {
			label = a.Label
		} else if !slices.Contains(Fields, f) {
			return portal.Errorf(portal.EINVALID, "%q is not a field an HR column maps to.", f)
		}
		if utf8.RuneCountInString(c) > 100 || strings.ContainsFunc(c, unicode.IsControl) {
			return portal.Errorf(portal.EINVALID, "The column for %s is not a usable header.", label)
		}
		cols[f] = c
	}
	if cols[FieldEmployeeID] == "" {
		return portal.Errorf(portal.EINVALID, "Map the employee ID to a column: HR rows are joined on it.")
	}
	s.Columns = cols
	return nil
}

// Row is one person as the HR source gives them, by field.
type Row struct {
	Line   int // in the file, counting the header as line 1
	Values map[string]string
}

// Refusal is a row left out, and why: Reason in English (for the command
// line and SCIM clients), Text kept as format and arguments for the HR
// page, in the reader's language (a refusal stored before Text existed has
// none: it is shown by its Reason).
type Refusal struct {
	Line   int         `json:"line"`
	Reason string      `json:"reason"`
	Text   portal.Text `json:"text"`
}

// refusal is the Refusal of line for reason.
func refusal(line int, reason portal.Text) Refusal {
	return Refusal{Line: line, Reason: reason.String(), Text: reason}
}

// Why is the refusal's reason as people read it.
func (r Refusal) Why() portal.Text {
	if r.Text.IsZero() {
		return portal.Textf("%s", r.Reason)
	}
	return r.Text
}

// MaxFileBytes bounds an HR file.
const MaxFileBytes = 64 << 20

// decode turns the file's bytes into text: UTF-8 (a byte order mark is
// dropped) or, when it is not UTF-8 and the source allows it, Latin-1.
func decode(b []byte, encoding string) (string, error) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if encoding != "latin-1" && utf8.Valid(b) {
		return string(b), nil
	}
	if encoding == "utf-8" {
		return "", portal.Errorf(portal.EINVALID, "The file is not UTF-8; set the encoding to Latin-1 or automatic, or save it as UTF-8.")
	}
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/8)
	for _, c := range b {
		sb.WriteRune(rune(c)) // Latin-1 is the first 256 code points
	}
	return sb.String(), nil
}

// ParseCSV reads an HR file: its header names the columns, and each
// mapped column's values go to their field. A row that cannot be read is
// refused with its line and reason; the others are returned.
func ParseCSV(content []byte, s Settings) ([]Row, []Refusal, error) {
	if len(content) > MaxFileBytes {
		return nil, nil, portal.Errorf(portal.EINVALID, "The file is larger than %d MB.", MaxFileBytes>>20)
	}
	text, err := decode(content, s.Encoding)
	if err != nil {
		return nil, nil, err
	}
	r := csv.NewReader(strings.NewReader(text))
	r.Comma = s.Delimiter
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil, portal.Errorf(portal.EINVALID, "The file is empty: it has no header line.")
	} else if err != nil {
		return nil, nil, portal.Errorf(portal.EINVALID, "The header line cannot be read: %v.", err)
	}
	index := map[string]int{} // field → column
	for f, col := range s.Columns {
		i := slices.IndexFunc(header, func(h string) bool { return strings.EqualFold(strings.TrimSpace(h), col) })
		if i < 0 {
			if f == FieldEmployeeID {
				return nil, nil, portal.Errorf(portal.EINVALID, "The file has no column %q, which holds the employee ID. Its columns are: %s.",
					col, strings.Join(header, ", "))
			}
			continue
		}
		index[f] = i
	}
	var rows []Row
	var refused []Refusal
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var perr *csv.ParseError
			if errors.As(err, &perr) {
				refused = append(refused, refusal(perr.StartLine, portal.Textf("cannot be read: %s", perr.Err.Error())))
				if errors.Is(perr.Err, csv.ErrQuote) || errors.Is(perr.Err, csv.ErrBareQuote) {
					continue
				}
				continue
			}
			return nil, nil, portal.Errorf(portal.EINVALID, "The file cannot be read: %v.", err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // a blank line
		}
		v := make(map[string]string, len(index))
		for f, i := range index {
			if i < len(rec) {
				v[f] = strings.TrimSpace(rec[i])
			} else {
				v[f] = ""
			}
		}
		rows = append(rows, Row{Line: line, Values: v})
	}
	return rows, refused, nil
}

// accountBase is the account name a joiner gets when the file has none:
// given name and surname, lower case, without diacritics, letters and
// digits only, at most 20 characters (AD's sAMAccountName).
func accountBase(given, surname, employeeID string) string {
	clean := func(s string) string {
		s = strings.ToLower(s)
		// Decomposed, a letter with diacritics is its base letter and
		// marks, and the marks go with everything else that is not a
		// letter or digit below. Only a name beyond ASCII has any: the
		// decomposition costs more than the rest for a file of 100,000
		// rows (as a transform chain that also removed the marks and
		// composed again, a sixth of the file's check).
		if strings.ContainsFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) {
			s = norm.NFD.String(s)
		}
		return strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	}
	g, sn := clean(given), clean(surname)
	name := sn
	if g != "" && sn != "" {
		name = g + "." + sn
	} else if g != "" {
		name = g
	}
	if name == "" {
		name = "e" + clean(employeeID)
	}
	if len(name) > 20 {
		name = strings.TrimRight(name[:20], ".")
	}
	return name
}

// dateLayout is how HR files write dates.
const dateLayout = "2006-01-02"

// parseDate reads a date of a file.
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(dateLayout, s)
	return t, err == nil
}

// fmtErr is a refusal's reason.
