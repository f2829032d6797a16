package entra

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tessera-idm/tessera/syncsvc"
)

// Entra objects have no DN; the engine names each by one that the
// connector can read back: a user by its userPrincipalName, a group by its
// mailNickname.
const (
	usersOU  = "OU=Users"
	groupsOU = "OU=Groups"
)

// UserDN is the engine's name of the user with userPrincipalName upn.
func UserDN(upn string) string { return syncsvc.ChildDN("CN", upn, usersOU) }

// GroupDN is the engine's name of the group with mailNickname nick.
func GroupDN(nick string) string { return syncsvc.ChildDN("CN", nick, groupsOU) }

// nameOf reads a DN made by UserDN or GroupDN.
func nameOf(dn string) (name string, class syncsvc.ObjectClass, err error) {
	name, err = syncsvc.RDNValue(dn)
	if err != nil {
		return "", "", err
	}
	_, parent := syncsvc.SplitDN(dn)
	switch {
	case strings.EqualFold(parent, usersOU):
		return name, syncsvc.ObjectUser, nil
	case strings.EqualFold(parent, groupsOU):
		return name, syncsvc.ObjectGroup, nil
	}
	return "", "", fmt.Errorf("entra: %q names no Entra object: users are CN=<userPrincipalName>,%s and groups CN=<mailNickname>,%s", dn, usersOU, groupsOU)
}

// Config is an Entra ID connected system.
type Config struct {
	Client ClientConfig
	// VerifiedDomains are the tenant's domains a UPN may use; a UPN in any
	// other falls back to InitialDomain. Empty: read from the tenant.
	VerifiedDomains []string
	InitialDomain   string
	// DomainsMaxAge lets Open take the tenant's domains as another
	// connector of the same tenant read them, up to this long ago (the
	// engine opens a connector per run); zero reads them now.
	DomainsMaxAge time.Duration
	// SoftMatch lets an add take an existing cloud user with the same UPN
	// and no immutable ID (Entra Connect's soft match, which security
	// guidance says to block: off by default).
	SoftMatch bool
}

// Connector is the Entra ID connector. Like every syncsvc.Connector it
// serves one caller at a time.
type Connector struct {
	cfg    Config
	c      *Client
	extra  []string
	ids    map[string]string // lower-case DN → object id
	dns    map[string]string // object id → DN
	delete map[string]string // onPremisesImmutableId → id of a soft-deleted user; nil: not read yet
	// unborn are the users whose creation Graph refused in this
	// connector's exports, by lower-case DN: a membership naming one is
	// not looked up by UPN (which may find someone else's account).
	unborn map[string]error
}

var _ syncsvc.Connector = (*Connector)(nil)

// Open checks cfg and reads the tenant's domains (which also proves the
// credentials), unless cfg names them.
func Open(ctx context.Context, cfg Config) (*Connector, error) {
	c, err := NewClient(cfg.Client)
	if err != nil {
		return nil, err
	}
	conn := &Connector{cfg: cfg, c: c, ids: map[string]string{}, dns: map[string]string{}, unborn: map[string]error{}}
	if cfg.InitialDomain == "" || len(cfg.VerifiedDomains) == 0 {
		initial, verified, err := conn.cachedDomains(ctx)
		if err != nil {
			return nil, err
		}
		if conn.cfg.InitialDomain == "" {
			conn.cfg.InitialDomain = initial
		}
		if len(conn.cfg.VerifiedDomains) == 0 {
			conn.cfg.VerifiedDomains = verified
		}
	}
	return conn, nil
}

// Client returns the connector's Graph client.
func (c *Connector) Client() *Client { return c.c }

// domainsRead are tenants' domains as connectors read them, by tenant.
var (
	domainsMu   sync.Mutex
	domainsRead = map[string]tenantDomains{}
)

type tenantDomains struct {
	initial  string
	verified []string
	at       time.Time
}

// cachedDomains reads the tenant's domains, or takes them as read less
// than DomainsMaxAge ago.
func (c *Connector) cachedDomains(ctx context.Context) (string, []string, error) {
	key := strings.ToLower(c.c.cfg.GraphURL + "|" + c.c.cfg.TenantID)
	domainsMu.Lock()
	d, ok := domainsRead[key]
	domainsMu.Unlock()
	if ok && time.Since(d.at) < c.cfg.DomainsMaxAge {
		return d.initial, slices.Clone(d.verified), nil
	}
	initial, verified, err := c.Domains(ctx)
	if err != nil {
		return "", nil, err
	}
	domainsMu.Lock()
	domainsRead[key] = tenantDomains{initial, slices.Clone(verified), time.Now()}
	domainsMu.Unlock()
	return initial, verified, nil
}

// Domains reads the tenant's initial domain and its verified domains.
func (c *Connector) Domains(ctx context.Context) (initial string, verified []string, err error) {
	var org struct {
		Value []struct {
			VerifiedDomains []struct {
				Name      string `json:"name"`
				IsInitial bool   `json:"isInitial"`
			} `json:"verifiedDomains"`
		} `json:"value"`
	}
	if err := c.c.Do(ctx, http.MethodGet, "/organization?$select=verifiedDomains", nil, &org); err != nil {
		return "", nil, err
	}
	for _, o := range org.Value {
		for _, d := range o.VerifiedDomains {
			verified = append(verified, d.Name)
			if d.IsInitial {
				initial = d.Name
			}
		}
	}
	if initial == "" {
		return "", nil, errors.New("entra: the tenant reports no initial domain")
	}
	return initial, verified, nil
}

// Close releases nothing: the HTTP client's connections are pooled.
func (c *Connector) Close() error { return nil }

// ImportAlso has imports read more user properties than the usual ones.
func (c *Connector) ImportAlso(names []string) {
	for _, n := range names {
		if p, ok := userProperty(n); ok && !slices.Contains(c.extra, p) {
			c.extra = append(c.extra, p)
		}
	}
}

// userProperties are the Graph user properties the connector reads and
// writes, by lower-case name. The collections are Graph's String
// collections: businessPhones takes one number although it is a
// collection, and proxyAddresses and imAddresses are read-only through
// Graph (shared/reference/microsoft-graph.md, §2.2).
var userProperties = userPropertyTable()

func userPropertyTable() map[string]syncsvc.TargetAttribute {
	userProperties := map[string]syncsvc.TargetAttribute{}
	for _, p := range []string{"displayName", "givenName", "surname", "mailNickname", "userPrincipalName", "onPremisesImmutableId",
		"accountEnabled", "jobTitle", "department", "companyName", "mobilePhone", "mail", "employeeId", "officeLocation",
		"usageLocation", "city", "state", "country", "postalCode", "streetAddress", "preferredLanguage"} {
		userProperties[strings.ToLower(p)] = syncsvc.TargetAttribute{Name: p}
	}
	for _, p := range []syncsvc.TargetAttribute{
		{Name: "businessPhones", Multi: true, MaxValues: 1},
		{Name: "otherMails", Multi: true},
		{Name: "proxyAddresses", Multi: true, ReadOnly: true},
		{Name: "imAddresses", Multi: true, ReadOnly: true},
	} {
		userProperties[strings.ToLower(p.Name)] = p
	}
	return userProperties
}

// TargetSchema is what sync rules of an Entra ID system may write: the
// user properties above, and what the engine maps itself (the AD anchor,
// userAccountControl as accountEnabled). Group rules are not checked. The
// wiring gives it to the engine (Engine.TargetSchemas).
func TargetSchema(class syncsvc.ObjectClass, name string) (syncsvc.TargetAttribute, bool) {
	switch {
	case strings.EqualFold(name, SourceAnchorAttribute), strings.EqualFold(name, "userAccountControl"):
		return syncsvc.TargetAttribute{Name: name}, true
	}
	p, ok := userProperties[strings.ToLower(name)]
	return p, ok
}

func userProperty(name string) (string, bool) {
	p, ok := userProperties[strings.ToLower(name)]
	return p.Name, ok
}

// userPropertyOf is the Graph property a flow writes, with its shape.
func userPropertyOf(name string) (syncsvc.TargetAttribute, bool) {
	p, ok := userProperties[strings.ToLower(name)]
	return p, ok
}

// ImmutableID is Entra Connect's sourceAnchor of an AD object: the base64
// of its objectGUID in the byte order .NET's Guid.ToByteArray gives (the
// first three fields little-endian).
func ImmutableID(guid string) (string, error) {
	h := strings.ReplaceAll(strings.Trim(guid, "{}"), "-", "")
	if len(h) != 32 {
		return "", fmt.Errorf("entra: %q is not a GUID", guid)
	}
	var b [16]byte
	for i := range 16 {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return "", fmt.Errorf("entra: %q is not a GUID", guid)
		}
		b[i] = byte(v)
	}
	b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0]
	b[4], b[5] = b[5], b[4]
	b[6], b[7] = b[7], b[6]
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

// FixUPN keeps upn when its domain is verified and otherwise moves it to
// the tenant's initial domain, as Entra Connect does.
func (c *Connector) FixUPN(upn string) string {
	alias, domain, ok := strings.Cut(upn, "@")
	if !ok {
		return upn + "@" + c.cfg.InitialDomain
	}
	for _, d := range c.cfg.VerifiedDomains {
		if strings.EqualFold(d, domain) {
			return upn
		}
	}
	if strings.EqualFold(domain, c.cfg.InitialDomain) {
		return upn
	}
	return alias + "@" + c.cfg.InitialDomain
}

// remember records an object's id under its DN.
func (c *Connector) remember(dn, id string) {
	c.ids[strings.ToLower(dn)] = id
	c.dns[strings.ToLower(id)] = dn
	delete(c.unborn, strings.ToLower(dn))
}

// idOf finds the object id of a DN: from what this connector saw, or from
// Graph.
func (c *Connector) idOf(ctx context.Context, dn string) (string, error) {
	if id, ok := c.ids[strings.ToLower(dn)]; ok {
		return id, nil
	}
	name, class, err := nameOf(dn)
	if err != nil {
		return "", err
	}
	var id string
	if class == syncsvc.ObjectUser {
		var u struct {
			ID string `json:"id"`
		}
		if err := c.c.Do(ctx, http.MethodGet, "/users/"+url.PathEscape(name)+"?$select=id", nil, &u); err != nil {
			return "", err
		}
		id = u.ID
	} else {
		var list struct {
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
		}
		if err := c.c.Do(ctx, http.MethodGet, "/groups?$select=id&$filter="+url.QueryEscape("mailNickname eq '"+odataQuote(name)+"'"), nil, &list); err != nil {
			return "", err
		}
		if len(list.Value) == 0 {
			return "", &Error{Status: http.StatusNotFound, Code: "Request_ResourceNotFound", Message: "No group has mailNickname " + name + "."}
		}
		id = list.Value[0].ID
	}
	c.remember(dn, id)
	return id, nil
}

// odataQuote escapes a value for a single-quoted OData string.
func odataQuote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// dnOf finds the DN of a user id (a group member).
func (c *Connector) dnOf(ctx context.Context, id string) (string, error) {
	if dn, ok := c.dns[strings.ToLower(id)]; ok {
		return dn, nil
	}
	var u struct {
		UPN string `json:"userPrincipalName"`
	}
	if err := c.c.Do(ctx, http.MethodGet, "/users/"+url.PathEscape(id)+"?$select=id,userPrincipalName", nil, &u); err != nil {
		return "", err
	}
	dn := UserDN(u.UPN)
	c.remember(dn, id)
	return dn, nil
}

// randomPassword makes a password no one knows that meets Entra's policy.
func randomPassword() string {
	const (
		upper  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		lower  = "abcdefghijkmnopqrstuvwxyz"
		digits = "23456789"
		symbol = "!#%+-=?@_"
	)
	pick := func(set string) byte {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			panic(err)
		}
		return set[n.Int64()]
	}
	b := []byte{pick(upper), pick(lower), pick(digits), pick(symbol)}
	for len(b) < 24 {
		b = append(b, pick(upper+lower+digits+symbol))
	}
	return string(b)
}

// decode reads a JSON value into out.
func decode(raw json.RawMessage, out any) error {
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("entra: read Graph's answer: %w", err)
	}
	return nil
}
