package ad

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/tessera-idm/tessera/syncsvc"
)

var _ syncsvc.SchemaReader = (*Connector)(nil)

// AttributeLimits reads the rangeUpper of every attributeSchema object that
// has one, under the forest's schema naming context (CN=Schema,
// CN=Configuration,...): for a string attribute, the most characters AD
// takes (givenName 64, displayName 256, cn 64).
func (c *Connector) AttributeLimits(ctx context.Context) (map[string]int, error) {
	limits := map[string]int{}
	err := c.eachAttributeSchema(ctx, "(&(objectClass=attributeSchema)(rangeUpper=*))", []string{"rangeUpper"}, func(name string, e *ldap.Entry) {
		n, err := strconv.Atoi(e.GetAttributeValue("rangeUpper"))
		if err != nil || n < 0 {
			return // not a length this engine can hold a value to
		}
		limits[name] = n
	})
	return limits, err
}

var _ syncsvc.ValueCountReader = (*Connector)(nil)

// SingleValued reads isSingleValued of every attributeSchema object:
// telephoneNumber holds one value, otherTelephone several.
func (c *Connector) SingleValued(ctx context.Context) (map[string]bool, error) {
	single := map[string]bool{}
	err := c.eachAttributeSchema(ctx, "(objectClass=attributeSchema)", []string{"isSingleValued"}, func(name string, e *ldap.Entry) {
		single[name] = strings.EqualFold(e.GetAttributeValue("isSingleValued"), "TRUE")
	})
	return single, err
}

// eachAttributeSchema pages through the attributeSchema objects that
// filter selects in the forest's schema naming context and calls fn with
// each one's lower-case lDAPDisplayName.
func (c *Connector) eachAttributeSchema(ctx context.Context, filter string, attrs []string, fn func(name string, e *ldap.Entry)) error {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	sent(reqSearch)
	root, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"schemaNamingContext"}, nil))
	if err != nil {
		return wrap("read the root DSE of", "", err)
	}
	if len(root.Entries) != 1 || root.Entries[0].GetAttributeValue("schemaNamingContext") == "" {
		return fmt.Errorf("ad: the root DSE names no schema naming context")
	}
	schema := root.Entries[0].GetAttributeValue("schemaNamingContext")
	paging := ldap.NewControlPaging(c.cfg.PageSize)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		sent(reqSearch)
		res, err := conn.Search(ldap.NewSearchRequest(schema, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			filter, append([]string{"lDAPDisplayName"}, attrs...), []ldap.Control{paging}))
		if err != nil {
			return wrap("read the schema at", schema, err)
		}
		for _, e := range res.Entries {
			if name := e.GetAttributeValue("lDAPDisplayName"); name != "" {
				fn(strings.ToLower(name), e)
			}
		}
		resp, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if resp == nil || len(resp.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(resp.Cookie)
	}
}
