package hr

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/tessera-idm/tessera/portal"
)

// SCIM bulk requests, as Microsoft Entra's API-driven inbound provisioning
// takes them: a BulkRequest of up to 50 POST operations on /Users, each a
// core User with the enterprise extension, externalId the employee ID.
const (
	SchemaBulkRequest = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	SchemaUser        = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaEnterprise  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	// SchemaTessera is the extension that carries the extra attributes
	// administrators added (Administration → Schema), each under its name.
	SchemaTessera = "urn:ietf:params:scim:schemas:extension:tessera:1.0:User"
	// MaxBulkOperations is the most operations one request may carry.
	MaxBulkOperations = 50
	// MaxBulkBytes bounds a bulk request's body.
	MaxBulkBytes = 1 << 20
)

type bulkRequest struct {
	Schemas    []string        `json:"schemas"`
	Operations []bulkOperation `json:"Operations"`
}

type bulkOperation struct {
	Method string                     `json:"method"`
	BulkID string                     `json:"bulkId"`
	Path   string                     `json:"path"`
	Data   map[string]json.RawMessage `json:"data"`
}

type scimValue struct {
	Value   string `json:"value"`
	Type    string `json:"type"`
	Primary bool   `json:"primary"`
}

// ParseBulk reads a SCIM BulkRequest into HR rows; a row's Line is its
// operation's number (from 1). An operation that cannot be taken is
// refused with its reason; a request that is not a BulkRequest at all is
// an EINVALID error.
func ParseBulk(body []byte) ([]Row, []Refusal, error) {
	if len(body) > MaxBulkBytes {
		return nil, nil, portal.Errorf(portal.EINVALID, "The bulk request is larger than %d kB.", MaxBulkBytes>>10)
	}
	var req bulkRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&req); err != nil {
		return nil, nil, portal.Errorf(portal.EINVALID, "The body is not a SCIM BulkRequest in JSON: %v.", err)
	}
	if !containsFold(req.Schemas, SchemaBulkRequest) {
		return nil, nil, portal.Errorf(portal.EINVALID, "The body's schemas must name %s.", SchemaBulkRequest)
	}
	switch {
	case len(req.Operations) == 0:
		return nil, nil, portal.Errorf(portal.EINVALID, "The bulk request has no operations.")
	case len(req.Operations) > MaxBulkOperations:
		return nil, nil, &TooManyOperationsError{Err: portal.Errorf(portal.EINVALID, "The bulk request has %d operations; send at most %d per request.",
			len(req.Operations), MaxBulkOperations)}
	}
	var rows []Row
	var refused []Refusal
	for i, op := range req.Operations {
		n := i + 1
		v, reason := bulkUser(op)
		if !reason.IsZero() {
			refused = append(refused, refusal(n, reason))
			continue
		}
		rows = append(rows, Row{Line: n, Values: v})
	}
	return rows, refused, nil
}

// bulkUser reads one operation's user into HR fields, or says why not.
func bulkUser(op bulkOperation) (map[string]string, portal.Text) {
	if !strings.EqualFold(op.Method, "POST") || !strings.EqualFold(strings.TrimSuffix(op.Path, "/"), "/Users") {
		return nil, portal.Textf("only POST operations on /Users are taken, not %s %s", op.Method, op.Path)
	}
	var schemas []string
	if err := json.Unmarshal(op.Data["schemas"], &schemas); err != nil || !containsFold(schemas, SchemaUser) {
		return nil, portal.Textf("the user's schemas must name %s", SchemaUser)
	}
	v := map[string]string{}
	text := func(raw json.RawMessage, what string) (string, portal.Text) {
		if raw == nil {
			return "", portal.Text{}
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", portal.Textf("%s is not text", what)
		}
		return strings.TrimSpace(s), portal.Text{}
	}
	set := func(field string, raw json.RawMessage, what string) portal.Text {
		if raw == nil {
			return portal.Text{}
		}
		s, bad := text(raw, what)
		if bad.IsZero() {
			v[field] = s
		}
		return bad
	}
	var bad portal.Text
	pick := func(b portal.Text) {
		if bad.IsZero() {
			bad = b
		}
	}
	pick(set(FieldEmployeeID, op.Data["externalId"], "externalId"))
	if v[FieldEmployeeID] == "" {
		return nil, portal.Textf("it has no externalId (the employee ID)")
	}
	pick(set(FieldDisplayName, op.Data["displayName"], "displayName"))
	pick(set(FieldTitle, op.Data["title"], "title"))
	if raw := op.Data["name"]; raw != nil {
		var name map[string]json.RawMessage
		if err := json.Unmarshal(raw, &name); err != nil {
			pick(portal.Textf("name is not an object"))
		}
		pick(set(FieldGivenName, name["givenName"], "name.givenName"))
		pick(set(FieldSurname, name["familyName"], "name.familyName"))
	}
	if raw := op.Data["active"]; raw != nil {
		var active bool
		if err := json.Unmarshal(raw, &active); err != nil {
			pick(portal.Textf("active is not true or false"))
		}
		v[FieldActive] = "true"
		if !active {
			v[FieldActive] = "false"
		}
	}
	if raw := op.Data["emails"]; raw != nil {
		var list []scimValue
		if err := json.Unmarshal(raw, &list); err != nil {
			pick(portal.Textf("emails is not a list of values"))
		}
		v[FieldEmail] = chooseValue(list, "work")
	}
	if raw := op.Data["phoneNumbers"]; raw != nil {
		var list []scimValue
		if err := json.Unmarshal(raw, &list); err != nil {
			pick(portal.Textf("phoneNumbers is not a list of values"))
		}
		for _, p := range list {
			switch strings.ToLower(p.Type) {
			case "work":
				v[FieldPhone] = strings.TrimSpace(p.Value)
			case "mobile":
				v[FieldMobile] = strings.TrimSpace(p.Value)
			}
		}
	}
	for key, raw := range op.Data {
		if !strings.HasPrefix(strings.ToLower(key), "urn:") {
			continue
		}
		var ext map[string]json.RawMessage
		if err := json.Unmarshal(raw, &ext); err != nil {
			pick(portal.Textf("%s is not an object", key))
			continue
		}
		for k, raw := range ext {
			// Every attribute of an extension is kept under its path,
			// for the extra attributes the source maps (bulkExtras).
			if text, ok := scimText(raw); ok {
				v[extensionPath(key, k)] = text
			}
			switch strings.ToLower(k) {
			case "department":
				pick(set(FieldDepartment, raw, "department"))
			case "manager":
				var m struct {
					Value string `json:"value"`
				}
				if err := json.Unmarshal(raw, &m); err != nil {
					pick(portal.Textf("manager is not an object with a value"))
				}
				v[FieldManager] = strings.TrimSpace(m.Value)
			case "employeenumber":
				if s, _ := text(raw, k); s != "" && !strings.EqualFold(s, v[FieldEmployeeID]) {
					pick(portal.Textf("employeeNumber %s is not the externalId %s", s, v[FieldEmployeeID]))
				}
			case "startdate", "hiredate":
				pick(set(FieldStartDate, raw, k))
			case "enddate", "leavedate", "terminationdate":
				pick(set(FieldEndDate, raw, k))
			case "office", "physicaldeliveryofficename":
				pick(set(FieldOffice, raw, k))
			}
		}
	}
	if !bad.IsZero() {
		return nil, bad
	}
	for _, f := range []string{FieldStartDate, FieldEndDate} {
		// SCIM writes dates as date-times: the day is what counts.
		if s := v[f]; len(s) > 10 && s[10] == 'T' {
			v[f] = s[:10]
		}
	}
	return v, portal.Text{}
}

// TooManyOperationsError refuses a bulk request with more operations than
// MaxBulkOperations: RFC 7644 §3.7.3 answers it 413 Payload Too Large.
type TooManyOperationsError struct{ Err error }

func (e *TooManyOperationsError) Error() string { return e.Err.Error() }

// Unwrap gives the portal error with the message people read.
func (e *TooManyOperationsError) Unwrap() error { return e.Err }

// extensionPath is an extension attribute's full name as RFC 7644 §3.10
// writes it (urn:…:User:costCenter), folded: SCIM names ignore case.
// HR fields never hold a colon, so a path is never taken for one.
func extensionPath(urn, attr string) string { return strings.ToLower(urn + ":" + attr) }

// scimText reads an extension attribute's JSON value as HR text: a string
// as it is, a number or boolean as JSON writes it, a complex value by its
// "value" (a reference, as manager is), and a list one value a line. ok is
// false for a value none of these.
func scimText(raw json.RawMessage) (string, bool) {
	var x any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&x); err != nil {
		return "", false
	}
	one := func(x any) (string, bool) {
		switch t := x.(type) {
		case nil:
			return "", true
		case string:
			return strings.TrimSpace(t), true
		case json.Number:
			return t.String(), true
		case bool:
			return strconv.FormatBool(t), true
		case map[string]any:
			if s, ok := t["value"].(string); ok {
				return strings.TrimSpace(s), true
			}
		}
		return "", false
	}
	list, isList := x.([]any)
	if !isList {
		return one(x)
	}
	vals := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := one(e)
		if !ok || strings.Contains(s, "\n") {
			return "", false
		}
		vals = append(vals, s)
	}
	return portal.JoinValues(vals), true
}

// bulkExtras reads the extra attributes a bulk request carries for the HR
// source set: those its settings map, each found, as an HR file's column
// is, under its column: a full path (urn:…:User:costCentre), or a name
// looked up in Tessera's extension and then in the enterprise one (the
// column's name, then the attribute's own: the enterprise extension's
// costCenter, division and organization map to attributes so named). A
// value is checked by the attribute's type (a reference names the other
// person by their employee ID, as manager does), and a row with a value
// its attribute refuses is refused, as is one whose Tessera extension
// holds an attribute the source does not map. It returns the settings the
// request is read with (every HR field by its own name, and the mapped
// extra attributes), and the rows left.
func bulkExtras(set Settings, schema *portal.Schema, rows []Row, refused []Refusal) (Settings, []Row, []Refusal) {
	cols := map[string]string{}
	for _, f := range Fields {
		cols[f] = f
	}
	type extra struct {
		attr  *portal.Attribute
		paths []string
	}
	var extras []extra
	known := map[string]bool{}
	for f, col := range set.Columns {
		a, ok := extraField(schema, f)
		if !ok {
			continue
		}
		cols[f] = f
		var paths []string
		if strings.HasPrefix(strings.ToLower(col), "urn:") && strings.Contains(col, ":") {
			i := strings.LastIndex(col, ":")
			paths = []string{extensionPath(col[:i], col[i+1:])}
		} else {
			paths = []string{extensionPath(SchemaTessera, col), extensionPath(SchemaTessera, a.Name),
				extensionPath(SchemaEnterprise, col), extensionPath(SchemaEnterprise, a.Name)}
		}
		for _, p := range paths {
			known[p] = true
		}
		extras = append(extras, extra{attr: a, paths: paths})
	}
	slices.SortFunc(extras, func(a, b extra) int { return strings.Compare(a.attr.Name, b.attr.Name) })
	set.Columns = cols
	tessera := extensionPath(SchemaTessera, "")
	kept := rows[:0]
rows:
	for _, r := range rows {
		for k := range r.Values {
			if strings.HasPrefix(k, tessera) && !known[k] {
				refused = append(refused, refusal(r.Line, portal.Textf("%s is not an attribute this HR source maps", k)))
				continue rows
			}
		}
		for _, x := range extras {
			for _, p := range x.paths {
				val, ok := r.Values[p]
				if !ok {
					continue
				}
				if x.attr.Type == portal.TypeDate && len(val) > 10 && val[10] == 'T' {
					val = val[:10] // SCIM writes dates as date-times: the day is what counts
				}
				if x.attr.Type != portal.TypeReference {
					norm, err := x.attr.CheckValue(val)
					if err != nil {
						refused = append(refused, refusal(r.Line, portal.Reason(err)))
						continue rows
					}
					val = norm
				}
				r.Values[x.attr.Name] = val
				break
			}
		}
		for k := range r.Values {
			if strings.Contains(k, ":") {
				delete(r.Values, k)
			}
		}
		kept = append(kept, r)
	}
	slices.SortFunc(refused, func(a, b Refusal) int { return a.Line - b.Line })
	return set, kept, refused
}

// chooseValue picks the primary value, else the first of type kind, else
// the first.
func chooseValue(list []scimValue, kind string) string {
	for _, x := range list {
		if x.Primary {
			return strings.TrimSpace(x.Value)
		}
	}
	for _, x := range list {
		if strings.EqualFold(x.Type, kind) {
			return strings.TrimSpace(x.Value)
		}
	}
	if len(list) > 0 {
		return strings.TrimSpace(list[0].Value)
	}
	return ""
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
