package ad

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/tessera-idm/tessera/syncsvc"
)

// ImportAttributes are the attributes an import reads: what sync rules
// flow, plus what the engine needs to classify and track objects.
var ImportAttributes = []string{
	"objectGUID", "objectClass", "name", "cn", "sAMAccountName", "userPrincipalName",
	"givenName", "sn", "displayName", "mail", "employeeID", "employeeNumber",
	"title", "department", "company", "manager", "telephoneNumber", "mobile", "physicalDeliveryOfficeName",
	"l", "streetAddress", "employeeType", "info",
	"description", "userAccountControl", "lockoutTime", "groupType", "member", "managedBy",
	"whenChanged", "uSNChanged", "isDeleted",
}

// ImportAlso adds attributes to what imports read: those the sync rules
// flow to and from; see syncsvc.AttributeImporter.
func (c *Connector) ImportAlso(names []string) {
	for _, n := range names {
		if !slices.ContainsFunc(c.importAttributes(), func(a string) bool { return strings.EqualFold(a, n) }) {
			c.extraAttributes = append(c.extraAttributes, n)
		}
	}
}

func (c *Connector) importAttributes() []string {
	if len(c.extraAttributes) == 0 {
		return ImportAttributes
	}
	return append(slices.Clip(ImportAttributes), c.extraAttributes...)
}

// scopeFilter selects people and groups; computers are users to AD.
const scopeFilter = "(|(&(objectClass=user)(!(objectClass=computer)))(objectClass=group))"

// FullImport pages through each OU in scope; see syncsvc.Connector.
func (c *Connector) FullImport(ctx context.Context, fn func(syncsvc.ImportedObject) error) error {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	for _, ou := range c.cfg.OUs {
		paging := ldap.NewControlPaging(c.cfg.PageSize)
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			req := ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
				scopeFilter, c.importAttributes(), []ldap.Control{paging})
			sent(reqSearch)
			res, err := conn.Search(req)
			if err != nil {
				return wrap("full import of", ou, err)
			}
			for _, entry := range res.Entries {
				if err := c.completeRanges(conn, entry); err != nil {
					return err
				}
				obj, err := importedObject(entry)
				if err != nil {
					return err
				}
				if err := fn(obj); err != nil {
					return err
				}
			}
			resp, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
			if resp == nil || len(resp.Cookie) == 0 {
				break
			}
			paging.SetCookie(resp.Cookie)
		}
	}
	return nil
}

// completeRanges reads the rest of a multi-valued attribute that AD cut
// off (a group of more than MaxValRange members comes back as
// "member;range=0-1499") with range retrieval, and stores it whole.
func (c *Connector) completeRanges(conn *ldap.Conn, entry *ldap.Entry) error {
	for _, attr := range entry.Attributes {
		name, rng, ok := strings.Cut(attr.Name, ";range=")
		if !ok {
			continue
		}
		values := attr.Values
		for {
			_, end, _ := strings.Cut(rng, "-")
			if end == "*" {
				break
			}
			last, err := strconv.Atoi(end)
			if err != nil {
				return fmt.Errorf("ad: %q: unexpected range %q", entry.DN, attr.Name)
			}
			want := fmt.Sprintf("%s;range=%d-*", name, last+1)
			sent(reqSearch)
			res, err := conn.Search(ldap.NewSearchRequest(entry.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
				0, 0, false, "(objectClass=*)", []string{want}, nil))
			if err != nil {
				return wrap("read "+want+" of", entry.DN, err)
			}
			if len(res.Entries) != 1 || len(res.Entries[0].Attributes) == 0 {
				break
			}
			next := res.Entries[0].Attributes[0]
			values = append(values, next.Values...)
			_, rng, _ = strings.Cut(next.Name, ";range=")
		}
		attr.Name, attr.Values, attr.ByteValues = name, values, nil
	}
	return nil
}

// DeltaImport reads the changes since watermark with the DirSync control;
// see syncsvc.Connector. DirSync reads the whole naming context, so the
// OUs in scope are applied here: an object that changed outside them is
// reported as deleted, since it may have been moved out (the engine
// ignores anchors it does not know), except on the first call.
func (c *Connector) DeltaImport(ctx context.Context, watermark []byte, fn func(syncsvc.ImportedObject) error) ([]byte, error) {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return nil, err
	}
	first := len(watermark) == 0
	cookie := watermark
	const flags = ldap.DirSyncObjectSecurity | ldap.DirSyncIncrementalValues
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		req := ldap.NewSearchRequest(c.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			scopeFilter, c.importAttributes(), nil)
		sent(reqDirSync)
		res, err := conn.DirSync(req, flags, 0, cookie)
		if err != nil {
			return nil, wrap("delta import of", c.cfg.BaseDN, err)
		}
		for _, entry := range res.Entries {
			obj, err := importedObject(entry)
			if err != nil {
				return nil, err
			}
			if !obj.Deleted && !c.inScope(obj.DN) {
				if first {
					continue
				}
				obj.Deleted = true
			}
			if err := fn(obj); err != nil {
				return nil, err
			}
		}
		resp, _ := ldap.FindControl(res.Controls, ldap.ControlTypeDirSync).(*ldap.ControlDirSync)
		if resp == nil {
			return nil, &Error{Op: "delta import of", DN: c.cfg.BaseDN, Diagnostic: "no DirSync control in the response"}
		}
		cookie = resp.Cookie
		if resp.Flags == 0 { // no more changes waiting
			return cookie, nil
		}
	}
}

func (c *Connector) inScope(dn string) bool {
	for _, ou := range c.cfg.OUs {
		if syncsvc.UnderDN(dn, ou) {
			return true
		}
	}
	return false
}

// plainDNs returns values with any DN in extended form written plainly:
// DirSync gives the value of a DN attribute that is not linked (secretary,
// seeAlso) as <GUID=…>;<SID=…>;CN=…, and a reference flowing in is
// resolved by its DN. A value is changed only when it starts so.
func plainDNs(values []string) []string {
	for i, v := range values {
		if !strings.HasPrefix(v, "<GUID=") {
			continue
		}
		for strings.HasPrefix(v, "<") {
			end := strings.Index(v, ">;")
			if end < 0 {
				break
			}
			v = v[end+2:]
		}
		values[i] = v
	}
	return values
}

// importedObject converts an entry of a search or DirSync result.
func importedObject(entry *ldap.Entry) (syncsvc.ImportedObject, error) {
	obj := syncsvc.ImportedObject{DN: entry.DN, Attributes: map[string][]string{}}
	for _, attr := range entry.Attributes {
		name, rng, ranged := strings.Cut(attr.Name, ";range=")
		switch {
		case strings.EqualFold(name, "objectGUID"):
			guid, err := GUIDString(attr.ByteValues[0])
			if err != nil {
				return obj, fmt.Errorf("%w (entry %q)", err, entry.DN)
			}
			obj.Anchor = guid
		case strings.EqualFold(name, "isDeleted"):
			obj.Deleted = strings.EqualFold(attr.Values[0], "TRUE")
		case ranged && rng == "0-0": // DirSync incremental values: removed
			if strings.EqualFold(name, "member") {
				obj.MembersRemoved = append(obj.MembersRemoved, attr.Values...)
			}
		case ranged && rng == "1-1": // DirSync incremental values: added
			if strings.EqualFold(name, "member") {
				obj.MembersAdded = append(obj.MembersAdded, attr.Values...)
			} else {
				obj.Attributes[name] = append(obj.Attributes[name], plainDNs(attr.Values)...)
			}
		default:
			obj.Attributes[name] = plainDNs(attr.Values)
		}
	}
	if strings.Contains(obj.DN, `\0ADEL:`) {
		obj.Deleted = true
	}
	for _, oc := range obj.Attributes["objectClass"] {
		switch {
		case strings.EqualFold(oc, "group"):
			obj.Class = syncsvc.ObjectGroup
		case strings.EqualFold(oc, "user") && obj.Class == "":
			obj.Class = syncsvc.ObjectUser
		}
	}
	if obj.Anchor == "" {
		return obj, fmt.Errorf("ad: entry %q has no objectGUID", entry.DN)
	}
	return obj, nil
}
