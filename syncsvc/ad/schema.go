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
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return nil, err
	}
	root, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
		"(objectClass=*)", []string{"schemaNamingContext"}, nil))
	if err != nil {
		return nil, wrap("read the root DSE of", "", err)
	}
	if len(root.Entries) != 1 || root.Entries[0].GetAttributeValue("schemaNamingContext") == "" {
		return nil, fmt.Errorf("ad: the root DSE names no schema naming context")
	}
	schema := root.Entries[0].GetAttributeValue("schemaNamingContext")
	limits := map[string]int{}
	paging := ldap.NewControlPaging(c.cfg.PageSize)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err := conn.Search(ldap.NewSearchRequest(schema, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			"(&(objectClass=attributeSchema)(rangeUpper=*))", []string{"lDAPDisplayName", "rangeUpper"}, []ldap.Control{paging}))
		if err != nil {
			return nil, wrap("read the schema at", schema, err)
		}
		for _, e := range res.Entries {
			name := e.GetAttributeValue("lDAPDisplayName")
			n, err := strconv.Atoi(e.GetAttributeValue("rangeUpper"))
			if name == "" || err != nil || n < 0 {
				continue // not a length this engine can hold a value to
			}
			limits[strings.ToLower(name)] = n
		}
		resp, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if resp == nil || len(resp.Cookie) == 0 {
			break
		}
		paging.SetCookie(resp.Cookie)
	}
	return limits, nil
}
