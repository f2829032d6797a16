package hr

import (
	"bytes"
	"encoding/json"
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
		return nil, nil, portal.Errorf(portal.EINVALID, "The bulk request has %d operations; send at most %d per request.",
			len(req.Operations), MaxBulkOperations)
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
