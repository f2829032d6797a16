package syncsvc

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tessera-idm/tessera/portal"
)

// CSObject is one object of a connector space: its last known state in the
// connected system and its join to the metaverse.
type CSObject struct {
	ID     int64
	Anchor string // empty until Tessera's add of it is exported
	DN     string
	Class  ObjectClass
	// Attrs are the attributes as last imported or exported, by lower-case
	// name.
	Attrs         map[string][]string
	PersonID      string
	GroupID       string
	JoinError     string
	Deprovisioned *time.Time
	// PendingImport says an import changed it since the last sync, and
	// ChangedAttrs which attributes (lower case).
	PendingImport bool
	ChangedAttrs  []string
}

func (o *CSObject) first(name string) string {
	if v := o.Attrs[fold(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// PendingExport is what the next export run sends for one connector space
// object: an add, a delete, or a modify with an optional rename first.
type PendingExport struct {
	CSID    int64
	Op      ExportOp // add, modify or delete
	DN      string
	NewDN   string // modify: rename (or move) to this DN first
	Class   ObjectClass
	Changes []AttributeChange
	// SetPassword gives a user add a random password no one knows.
	SetPassword bool
	Enable      bool
	// Deprovision marks the export of an object that left the scope.
	Deprovision bool
	Status      string // pending or error
	Attempts    int
	// LastError is the last attempt's failure in English (the log's and
	// the command line's); LastErrorText the same, written in a reader's
	// language.
	LastError     string
	LastErrorText portal.Text
	NextAttempt   time.Time
	RequestIDs    []string
}

// empty reports a modify that changes nothing.
func (p *PendingExport) empty() bool {
	return p.Op == ExportModify && p.NewDN == "" && len(p.Changes) == 0
}

// Summary says in a few words what the export does.
func (p *PendingExport) Summary() string {
	switch p.Op {
	case ExportAdd:
		return "create"
	case ExportDelete:
		return "delete"
	}
	var parts []string
	if p.NewDN != "" {
		parts = append(parts, "rename or move to "+p.NewDN)
	}
	for _, c := range p.Changes {
		parts = append(parts, c.String())
	}
	return strings.Join(parts, "; ")
}

// SummaryText is Summary as format and arguments, for people reading it in
// their language: the attribute names and values stay as they are.
func (p *PendingExport) SummaryText() portal.Text {
	switch p.Op {
	case ExportAdd:
		return portal.Textf("create")
	case ExportDelete:
		return portal.Textf("delete")
	}
	var parts []portal.Text
	if p.NewDN != "" {
		parts = append(parts, portal.Textf("rename or move to %s", p.NewDN))
	}
	for _, c := range p.Changes {
		parts = append(parts, c.Text())
	}
	return portal.JoinTexts(parts, "; ")
}

// Text is String as format and arguments.
func (c AttributeChange) Text() portal.Text {
	vals := c.Values
	var more portal.Text
	if len(vals) > 3 {
		vals, more = vals[:3], portal.Textf(" and %d more", len(c.Values)-3)
	}
	switch {
	case c.Op == AttributeAddValues:
		return portal.Textf("%s + %s%s", c.Name, strings.Join(vals, ", "), more)
	case c.Op == AttributeDeleteValues:
		return portal.Textf("%s − %s%s", c.Name, strings.Join(vals, ", "), more)
	case len(c.Values) == 0:
		return portal.Textf("%s cleared", c.Name)
	}
	return portal.Textf("%s = %s%s", c.Name, strings.Join(vals, ", "), more)
}

// String describes the change for people.
func (c AttributeChange) String() string {
	vals := c.Values
	more := ""
	if len(vals) > 3 {
		vals, more = vals[:3], fmt.Sprintf(" and %d more", len(c.Values)-3)
	}
	switch {
	case c.Op == AttributeAddValues:
		return fmt.Sprintf("%s + %s%s", c.Name, strings.Join(vals, ", "), more)
	case c.Op == AttributeDeleteValues:
		return fmt.Sprintf("%s − %s%s", c.Name, strings.Join(vals, ", "), more)
	case len(c.Values) == 0:
		return c.Name + " cleared"
	}
	return fmt.Sprintf("%s = %s%s", c.Name, strings.Join(vals, ", "), more)
}

// userAccountControl bits.
const (
	uacDisabled      = 0x2
	uacPasswdNotReqd = 0x20
	uacNormal        = 0x200
)

// outValues are p's values of user Outbound flow i: one, or several for a
// flow that gives a list (a multi-valued attribute in the system), none
// for an empty one. A reference flow gives the DN of the referenced
// person's object in the system (refDN), none while that object does not
// exist there yet.
func (r *compiledRule) outValues(i int, p *portal.Person, refDN func(personID string) string) ([]string, error) {
	if a := r.outRef[i]; a != nil {
		if dn := refDN(a.Text(p)); dn != "" {
			return []string{dn}, nil
		}
		return nil, nil
	}
	return r.outPerson[i].Values(p)
}

// addUser computes a provisioning add of p.
func (r *compiledRule) addUser(p *portal.Person, refDN func(string) string) (*PendingExport, error) {
	if r.template == nil {
		return nil, fmt.Errorf("the sync rule has no DN template")
	}
	dn, err := expandTemplate(r.template, func(t templatePart) string { return t.attr.Text(p) })
	if err != nil {
		return nil, fmt.Errorf("cannot name the new account: %v", err)
	}
	pe := &PendingExport{Op: ExportAdd, DN: dn, Class: ObjectUser, SetPassword: r.InitialPassword == "random",
		Enable: r.EnableOnCreate && p.Enabled}
	for i, f := range r.Outbound {
		vals, err := r.outValues(i, p, refDN)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", f.CS, portal.ErrorMessage(err))
		}
		if strings.EqualFold(f.CS, "sAMAccountName") && len(vals) > 0 && utf8.RuneCountInString(vals[0]) > 20 {
			return nil, fmt.Errorf("sAMAccountName %q is longer than the 20 characters AD allows: shorten it in the flow", vals[0])
		}
		if len(vals) > 0 {
			pe.Changes = append(pe.Changes, AttributeChange{Op: AttributeReplace, Name: f.CS, Values: vals})
		}
	}
	return pe, nil
}

// diffUser computes what must change in cs, joined to p, in scope.
func (r *compiledRule) diffUser(p *portal.Person, cs *CSObject, refDN func(string) string) (*PendingExport, error) {
	pe := &PendingExport{CSID: cs.ID, Op: ExportModify, DN: cs.DN, Class: ObjectUser}
	for i, f := range r.Outbound {
		if f.InitialOnly {
			continue
		}
		vals, err := r.outValues(i, p, refDN)
		if err != nil {
			return nil, fmt.Errorf("%s: %s", f.CS, portal.ErrorMessage(err))
		}
		if r.outRef[i] != nil && len(vals) > 0 && SameDN(vals[0], cs.first(f.CS)) {
			continue // the system spells the DN its own way
		}
		pe.Changes = appendReplaceValues(pe.Changes, f.CS, vals, cs.Attrs[fold(f.CS)])
	}
	if uacText := cs.first("userAccountControl"); uacText != "" {
		if uac, err := strconv.ParseInt(uacText, 10, 64); err == nil {
			disabled := uac&uacDisabled != 0
			// Tessera enables only accounts its rule makes enabled, and
			// never one that may have no password (PASSWD_NOTREQD): that
			// one waits for its person to set a password.
			canEnable := r.InitialPassword == "random" && r.EnableOnCreate && uac&uacPasswdNotReqd == 0
			switch {
			case !p.Enabled && !disabled:
				pe.Changes = append(pe.Changes, uacChange(uac|uacDisabled))
			case p.Enabled && disabled && canEnable && cs.Deprovisioned == nil:
				pe.Changes = append(pe.Changes, uacChange(uac&^uacDisabled))
			}
		}
	}
	if r.template != nil {
		// A name that cannot be made (an empty department) keeps the
		// account where it is.
		if dn, err := expandTemplate(r.template, func(t templatePart) string { return t.attr.Text(p) }); err == nil && !SameDN(dn, cs.DN) {
			pe.NewDN = dn
		}
	}
	return pe, nil
}

func uacChange(uac int64) AttributeChange {
	return AttributeChange{Op: AttributeReplace, Name: "userAccountControl", Values: []string{strconv.FormatInt(uac, 10)}}
}

// appendReplace adds a replace of name when want differs from have.
func appendReplace(changes []AttributeChange, name, want, have string) []AttributeChange {
	if want == have {
		return changes
	}
	if want == "" {
		return append(changes, AttributeChange{Op: AttributeReplace, Name: name})
	}
	return append(changes, AttributeChange{Op: AttributeReplace, Name: name, Values: []string{want}})
}

// appendReplaceValues adds a replace of name when the values want differ
// from have, in any order (a multi-valued attribute keeps no order).
func appendReplaceValues(changes []AttributeChange, name string, want, have []string) []AttributeChange {
	if len(want) == len(have) && !slices.ContainsFunc(want, func(v string) bool { return !slices.Contains(have, v) }) {
		return changes
	}
	return append(changes, AttributeChange{Op: AttributeReplace, Name: name, Values: want})
}

// deprovisionUser computes what happens to cs when its person leaves the
// scope; nil means disconnect only.
func (r *compiledRule) deprovision(cs *CSObject, now time.Time) *PendingExport {
	switch r.Deprovision {
	case DeprovisionDelete:
		return &PendingExport{CSID: cs.ID, Op: ExportDelete, DN: cs.DN, Class: cs.Class, Deprovision: true}
	case DeprovisionDisable:
		if cs.Deprovisioned != nil {
			if r.DeleteAfterDays > 0 && now.Sub(*cs.Deprovisioned) >= time.Duration(r.DeleteAfterDays)*24*time.Hour {
				return &PendingExport{CSID: cs.ID, Op: ExportDelete, DN: cs.DN, Class: cs.Class, Deprovision: true}
			}
		}
		pe := &PendingExport{CSID: cs.ID, Op: ExportModify, DN: cs.DN, Class: cs.Class, Deprovision: true}
		if uac, err := strconv.ParseInt(cs.first("userAccountControl"), 10, 64); err == nil && uac&uacDisabled == 0 {
			pe.Changes = append(pe.Changes, uacChange(uac|uacDisabled))
		}
		if r.DeprovisionOU != "" {
			if rdn, parent := SplitDN(cs.DN); !SameDN(parent, r.DeprovisionOU) {
				pe.NewDN = rdn + "," + r.DeprovisionOU
			}
		}
		return pe
	}
	return nil
}

// groupType is AD's groupType of a global group of the portal's type.
func groupType(t string) string {
	if t == "distribution" {
		return "2"
	}
	return "-2147483646" // global security group
}

// addGroup computes a provisioning add of g with members (DNs).
func (r *compiledRule) addGroup(g *mvGroup, members []string) (*PendingExport, error) {
	if r.template == nil {
		return nil, fmt.Errorf("the sync rule has no DN template")
	}
	dn, err := expandTemplate(r.template, func(t templatePart) string { return g.Fields[t.Attr] })
	if err != nil {
		return nil, fmt.Errorf("cannot name the new group: %v", err)
	}
	pe := &PendingExport{Op: ExportAdd, DN: dn, Class: ObjectGroup}
	pe.Changes = append(pe.Changes, AttributeChange{Op: AttributeReplace, Name: "groupType", Values: []string{groupType(g.Fields["type"])}})
	for i, f := range r.Outbound {
		v, err := r.groupValue(i, g)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.CS, err)
		}
		if v != "" {
			pe.Changes = append(pe.Changes, AttributeChange{Op: AttributeReplace, Name: f.CS, Values: []string{v}})
		}
	}
	if len(members) > 0 {
		pe.Changes = append(pe.Changes, AttributeChange{Op: AttributeAddValues, Name: "member", Values: members})
	}
	return pe, nil
}

func (r *compiledRule) groupValue(i int, g *mvGroup) (string, error) {
	out, err := evalMap(r.outGroup[i], "group", g.Fields, nil)
	if err != nil {
		return "", err
	}
	s, _ := out.(string)
	return s, nil
}

// diffGroup computes what must change in cs, joined to g: its flows and
// its members, over which Tessera has full authority.
func (r *compiledRule) diffGroup(g *mvGroup, cs *CSObject, members []string) (*PendingExport, error) {
	pe := &PendingExport{CSID: cs.ID, Op: ExportModify, DN: cs.DN, Class: ObjectGroup}
	for i, f := range r.Outbound {
		if f.InitialOnly {
			continue
		}
		v, err := r.groupValue(i, g)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.CS, err)
		}
		pe.Changes = appendReplace(pe.Changes, f.CS, v, cs.first(f.CS))
	}
	have := map[string]bool{}
	for _, m := range cs.Attrs["member"] {
		have[fold(m)] = true
	}
	want := map[string]bool{}
	var add, del []string
	for _, m := range members {
		k := fold(m)
		want[k] = true
		if !have[k] {
			add = append(add, m)
		}
	}
	for _, m := range cs.Attrs["member"] {
		if !want[fold(m)] {
			del = append(del, m)
		}
	}
	slices.Sort(add)
	slices.Sort(del)
	if len(add) > 0 {
		pe.Changes = append(pe.Changes, AttributeChange{Op: AttributeAddValues, Name: "member", Values: add})
	}
	if len(del) > 0 {
		pe.Changes = append(pe.Changes, AttributeChange{Op: AttributeDeleteValues, Name: "member", Values: del})
	}
	if r.template != nil {
		if dn, err := expandTemplate(r.template, func(t templatePart) string { return g.Fields[t.Attr] }); err == nil && !SameDN(dn, cs.DN) {
			pe.NewDN = dn
		}
	}
	return pe, nil
}

// inScopeUser reports whether p is in r's scope.
func (r *compiledRule) inScopeUser(p *portal.Person) (bool, error) {
	if r.personScope == nil {
		return true, nil
	}
	return r.personScope.Match(p)
}

func (r *compiledRule) inScopeGroup(g *mvGroup) (bool, error) {
	if r.groupScope == nil {
		return true, nil
	}
	out, err := evalMap(r.groupScope, "group", g.Fields, nil)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// inboundChanged reports whether an import changed an attribute that
// inbound flow i reads.
func (r *compiledRule) inboundChanged(i int, cs *CSObject) bool {
	for _, k := range r.inboundKeys[i] {
		if slices.Contains(cs.ChangedAttrs, fold(k)) {
			return true
		}
	}
	return false
}

// inboundValues evaluates the inbound flows over cs. A flow to a
// multi-valued attribute that reads one attribute of cs is evaluated for
// each of its values (cs.otherTelephone, or cs.proxyAddresses.lowerAscii()),
// and its non-empty results kept one a line, as the attribute keeps them;
// other flows read the first value of each attribute.
func (r *compiledRule) inboundValues(cs *CSObject) (map[string]string, error) {
	out := map[string]string{}
	for i, f := range r.Inbound {
		keys := r.inboundKeys[i]
		if len(keys) == 1 && r.inboundAttrs[i].Type == portal.TypeStrings {
			var vals []string
			for _, v := range cs.Attrs[fold(keys[0])] {
				got, err := evalMap(r.inbound[i], "cs", map[string]string{keys[0]: v}, nil)
				if err != nil {
					return nil, fmt.Errorf("inbound flow to %s: %v", f.MV, err)
				}
				if s, _ := got.(string); s != "" {
					vals = append(vals, s)
				}
			}
			out[f.MV] = portal.JoinValues(portal.SplitValues(portal.JoinValues(vals)))
			continue
		}
		m := make(map[string]string, len(keys))
		for _, k := range keys {
			m[k] = cs.first(k)
		}
		v, err := evalMap(r.inbound[i], "cs", m, nil)
		if err != nil {
			return nil, fmt.Errorf("inbound flow to %s: %v", f.MV, err)
		}
		s, _ := v.(string)
		out[f.MV] = s
	}
	return out, nil
}
