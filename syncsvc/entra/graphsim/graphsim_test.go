package graphsim_test

// These tests hold the simulator to the examples Microsoft documents
// (gathered in /work/shared/reference/microsoft-graph.md), with raw HTTP
// and no client of ours, so that the simulator cannot drift into agreeing
// with the connector.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
)

const (
	tenant = "11111111-2222-3333-4444-555555555555"
	client = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
	secret = "s3cret~value"
)

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type bundle struct {
	sim   *graphsim.Server
	url   string
	token string
	clock *clock
}

func setup(t *testing.T, cfg graphsim.Config) *bundle {
	t.Helper()
	c := &clock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	cfg.TenantID, cfg.ClientID, cfg.ClientSecret = tenant, client, secret
	cfg.InitialDomain, cfg.VerifiedDomains = "contoso.onmicrosoft.com", []string{"contoso.com"}
	cfg.Now = c.now
	sim := graphsim.New(cfg)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	b := &bundle{sim: sim, url: srv.URL, clock: c}
	b.refresh(t)
	return b
}

// refresh takes a new access token (after the clock went past the last).
func (b *bundle) refresh(t *testing.T) {
	t.Helper()
	status, body, _ := b.tokenRequest(t, secret)
	require.Equal(t, 200, status, body)
	b.token = body["access_token"].(string)
}

func (b *bundle) tokenRequest(t *testing.T, sec string) (int, map[string]any, http.Header) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {sec},
		"scope": {"https://graph.microsoft.com/.default"}}
	resp, err := http.PostForm(b.url+"/"+tenant+"/oauth2/v2.0/token", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return resp.StatusCode, m, resp.Header
}

// call sends one Graph request; path is relative to /v1.0, or a full URL.
func (b *bundle) call(t *testing.T, method, path string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(data)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = b.url + "/v1.0" + path
	}
	req, err := http.NewRequest(method, u, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	if len(data) > 0 {
		require.NoError(t, json.Unmarshal(data, &m), string(data))
	}
	return resp.StatusCode, m, resp.Header
}

func newUser(upn string) map[string]any {
	nick, _, _ := strings.Cut(upn, "@")
	return map[string]any{"accountEnabled": true, "displayName": "Zoë " + nick, "mailNickname": nick, "userPrincipalName": upn,
		"passwordProfile": map[string]any{"forceChangePasswordNextSignIn": true, "password": "xWwvJ]6NMw+bWH-d"}}
}

func (b *bundle) mustCreate(t *testing.T, upn string) string {
	t.Helper()
	status, body, _ := b.call(t, "POST", "/users", newUser(upn))
	require.Equal(t, 201, status, body)
	return body["id"].(string)
}

// requireError checks Graph's error envelope.
func requireError(t *testing.T, body map[string]any, code, message string) map[string]any {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "error envelope: %v", body)
	require.Equal(t, code, e["code"])
	if message != "" {
		require.Equal(t, message, e["message"])
	}
	inner := e["innerError"].(map[string]any)
	require.NotEmpty(t, inner["request-id"])
	require.NotEmpty(t, inner["date"])
	return e
}

func TestTokenEndpointAndOpenIDConfiguration(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	status, body, h := b.tokenRequest(t, secret)
	require.Equal(t, 200, status)
	require.Equal(t, "Bearer", body["token_type"])
	require.EqualValues(t, 3599, body["expires_in"])
	require.Contains(t, h.Get("Content-Type"), "application/json")

	status, body, _ = b.tokenRequest(t, "wrong")
	require.Equal(t, 401, status)
	require.Equal(t, "invalid_client", body["error"])
	require.Contains(t, body["error_description"], "AADSTS7000215")

	resp, err := http.Get(b.url + "/" + tenant + "/v2.0/.well-known/openid-configuration")
	require.NoError(t, err)
	defer resp.Body.Close()
	var oidc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&oidc))
	require.Equal(t, b.url+"/"+tenant+"/oauth2/v2.0/token", oidc["token_endpoint"])
	require.Equal(t, b.url+"/"+tenant+"/v2.0", oidc["issuer"])

	b.token = ""
	status, body, _ = b.call(t, "GET", "/users", nil)
	require.Equal(t, 401, status)
	requireError(t, body, "InvalidAuthenticationToken", "Access token is empty.")
	b.token = "made-up"
	status, body, _ = b.call(t, "GET", "/users", nil)
	require.Equal(t, 401, status)
	requireError(t, body, "InvalidAuthenticationToken", "")
}

func TestUserLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	// Create: 201, the entity context, default properties only.
	status, body, h := b.call(t, "POST", "/users", newUser("zoe@contoso.com"))
	require.Equal(t, 201, status, body)
	require.Equal(t, b.url+"/v1.0/$metadata#users/$entity", body["@odata.context"])
	require.NotEmpty(t, h.Get("request-id"))
	require.Contains(t, h.Get("Content-Type"), "application/json")
	id := body["id"].(string)
	require.Equal(t, "zoe@contoso.com", body["userPrincipalName"])
	require.NotContains(t, body, "accountEnabled", "accountEnabled comes back only with $select")
	require.Equal(t, []any{}, body["businessPhones"])

	// Get by id or UPN; $select brings the other properties.
	status, body, _ = b.call(t, "GET", "/users/ZOE@contoso.com?$select=accountEnabled,onPremisesImmutableId,mailNickname", nil)
	require.Equal(t, 200, status, body)
	require.Equal(t, map[string]any{"@odata.context": b.url + "/v1.0/$metadata#users/$entity", "id": id, "accountEnabled": true,
		"onPremisesImmutableId": nil, "mailNickname": "zoe"}, body)
	status, body, _ = b.call(t, "GET", "/users/"+id+"?$select=skillz", nil)
	require.Equal(t, 400, status)
	requireError(t, body, "Request_BadRequest", "Could not find a property named 'skillz' on type 'microsoft.graph.user'.")

	// Update: 204 and no body; left-out properties keep their values.
	status, body, h = b.call(t, "PATCH", "/users/"+id, map[string]any{"accountEnabled": false, "jobTitle": "Nurse"})
	require.Equal(t, 204, status)
	require.Nil(t, body)
	require.Empty(t, h.Get("Content-Type"))
	_, body, _ = b.call(t, "GET", "/users/"+id+"?$select=accountEnabled,jobTitle,displayName", nil)
	require.Equal(t, false, body["accountEnabled"])
	require.Equal(t, "Nurse", body["jobTitle"])
	require.Equal(t, "Zoë zoe", body["displayName"])
	status, body, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"displayName": ""})
	require.Equal(t, 400, status, "displayName can't be cleared")
	requireError(t, body, "Request_BadRequest", "Invalid value specified for property 'displayName' of resource 'User'.")

	// Password reset through passwordProfile; a weak one is refused.
	status, _, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"passwordProfile": map[string]any{
		"forceChangePasswordNextSignIn": false, "password": "Another-Strong1"}})
	require.Equal(t, 204, status)
	status, body, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"passwordProfile": map[string]any{"password": "password"}})
	require.Equal(t, 400, status)
	requireError(t, body, "Request_BadRequest", "The specified password does not comply with password complexity requirements. Please provide a different password.")

	// Soft delete: 204; gone from /users, in deleted items, restorable.
	status, _, _ = b.call(t, "DELETE", "/users/"+id, nil)
	require.Equal(t, 204, status)
	status, body, _ = b.call(t, "GET", "/users/"+id, nil)
	require.Equal(t, 404, status)
	requireError(t, body, "Request_ResourceNotFound", "Resource '"+id+"' does not exist or one of its queried reference-property objects are not present.")
	status, body, _ = b.call(t, "GET", "/directory/deletedItems/microsoft.graph.user", nil)
	require.Equal(t, 200, status)
	require.Len(t, body["value"], 1)
	require.Equal(t, id, body["value"].([]any)[0].(map[string]any)["id"])
	require.NotNil(t, body["value"].([]any)[0].(map[string]any)["deletedDateTime"])
	status, body, _ = b.call(t, "POST", "/directory/deletedItems/"+id+"/restore", nil)
	require.Equal(t, 200, status, body)
	require.Equal(t, "#microsoft.graph.user", body["@odata.type"])
	status, _, _ = b.call(t, "GET", "/users/"+id, nil)
	require.Equal(t, 200, status)

	// After 30 days a deleted user is gone for good.
	status, _, _ = b.call(t, "DELETE", "/users/"+id, nil)
	require.Equal(t, 204, status)
	b.clock.add(29 * 24 * time.Hour)
	b.refresh(t)
	_, body, _ = b.call(t, "GET", "/directory/deletedItems/microsoft.graph.user", nil)
	require.Len(t, body["value"], 1)
	b.clock.add(2 * 24 * time.Hour)
	status, body, _ = b.call(t, "GET", "/users/"+id, nil)
	require.Equal(t, 401, status, "an hour-old access token has expired")
	requireError(t, body, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
	b.refresh(t)
	status, body, _ = b.call(t, "POST", "/directory/deletedItems/"+id+"/restore", nil)
	require.Equal(t, 404, status)
	requireError(t, body, "Request_ResourceNotFound", "")
}

func TestUserFieldRules(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	b.mustCreate(t, "mateo@contoso.com")

	// The documented duplicate-UPN body, word for word.
	status, body, _ := b.call(t, "POST", "/users", newUser("MATEO@contoso.com"))
	require.Equal(t, 400, status)
	e := requireError(t, body, "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
	require.Equal(t, []any{map[string]any{"target": "userPrincipalName", "code": "ObjectConflict"}}, e["details"])

	status, body, _ = b.call(t, "POST", "/users", newUser("ana@fabrikam.com"))
	require.Equal(t, 400, status)
	requireError(t, body, "Request_BadRequest", "The domain portion of the userPrincipalName property is invalid. "+
		"You must use one of the verified domain names in your organization.")
	status, _, _ = b.call(t, "POST", "/users", newUser("ana@contoso.onmicrosoft.com"))
	require.Equal(t, 201, status, "the initial domain is verified")

	for _, upn := range []string{"zoë@contoso.com", "ana.@contoso.com", "a b@contoso.com", "a@b@contoso.com", "a%b@contoso.com",
		strings.Repeat("a", 65) + "@contoso.com", "noatsign"} {
		u := newUser("x@contoso.com")
		u["userPrincipalName"] = upn
		status, body, _ = b.call(t, "POST", "/users", u)
		require.Equal(t, 400, status, upn)
		requireError(t, body, "Request_BadRequest", "Invalid value specified for property 'userPrincipalName' of resource 'User'.")
	}
	u := newUser("o'neil.j-k_l!m#n^o~p@contoso.com")
	u["mailNickname"] = "oneil"
	status, body, _ = b.call(t, "POST", "/users", u)
	require.Equal(t, 201, status, body)

	// mailNickname: the documented comma case with its details.
	u = newUser("bad@contoso.com")
	u["mailNickname"] = "a,b"
	status, body, _ = b.call(t, "POST", "/users", u)
	require.Equal(t, 400, status)
	e = requireError(t, body, "Request_BadRequest", "Invalid value specified for property 'mailNickname' of resource 'User'.")
	require.Equal(t, []any{map[string]any{"code": "InvalidValue", "target": "mailNickname"}}, e["details"])

	// Required properties and password rules at create.
	u = newUser("nopw@contoso.com")
	delete(u, "passwordProfile")
	status, _, _ = b.call(t, "POST", "/users", u)
	require.Equal(t, 400, status)
	for _, pw := range []string{"Short1!", "alllowercase1", "Ünïcode-Pass1", "NoDigitsOrSymbols"} {
		u = newUser("pw@contoso.com")
		u["passwordProfile"] = map[string]any{"password": pw}
		status, body, _ = b.call(t, "POST", "/users", u)
		require.Equal(t, 400, status, pw)
		requireError(t, body, "Request_BadRequest", "The specified password does not comply with password complexity requirements. Please provide a different password.")
	}
	u = newUser("imm@contoso.com")
	u["onPremisesImmutableId"] = "has_underscore"
	status, _, _ = b.call(t, "POST", "/users", u)
	require.Equal(t, 400, status, "$ and _ are not allowed in onPremisesImmutableId")
	u["onPremisesImmutableId"] = "1wfM9xV8fUSHbcAbDlqeOA=="
	status, _, _ = b.call(t, "POST", "/users", u)
	require.Equal(t, 201, status)
}

// TestUserCollections: the user's String collections as Graph documents
// them (microsoft-graph.md §2.2): businessPhones takes one number although
// it is a collection, otherMails takes several without accents,
// proxyAddresses and imAddresses are read-only, and an unset collection
// reads as [] (never null). proxyAddresses follows mail.
func TestUserCollections(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	id := b.mustCreate(t, "lea@contoso.com")

	status, body, _ := b.call(t, "GET", "/users/"+id+"?$select=businessPhones,otherMails,proxyAddresses,imAddresses", nil)
	require.Equal(t, 200, status, body)
	for _, k := range []string{"businessPhones", "otherMails", "proxyAddresses", "imAddresses"} {
		require.Equal(t, []any{}, body[k], k)
	}

	status, body, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"businessPhones": []string{"+1 555 0100", "+1 555 0101"}})
	require.Equal(t, 400, status)
	e := requireError(t, body, "Request_BadRequest", "Invalid value specified for property 'businessPhones' of resource 'User'.")
	require.Equal(t, []any{map[string]any{"code": "InvalidValue", "target": "businessPhones"}}, e["details"])
	status, body, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"businessPhones": "+1 555 0100"})
	require.Equal(t, 400, status, "a collection, not a string")
	requireError(t, body, "Request_BadRequest", "Invalid value specified for property 'businessPhones' of resource 'User'.")
	status, body, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"businessPhones": []string{"+1 555 0100"},
		"otherMails": []string{"lea@fabrikam.com", "lea.b@example.org"}})
	require.Equal(t, 204, status, body)

	status, body, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"otherMails": []string{"léa@fabrikam.com"}})
	require.Equal(t, 400, status, "no accented characters")
	requireError(t, body, "Request_BadRequest", "Invalid value specified for property 'otherMails' of resource 'User'.")
	status, body, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"proxyAddresses": []string{"SMTP:lea@contoso.com"}})
	require.Equal(t, 403, status)
	requireError(t, body, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	status, body, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"imAddresses": []string{"sip:lea@contoso.com"}})
	require.Equal(t, 400, status)
	requireError(t, body, "Request_BadRequest", "Property 'imAddresses' is read-only and cannot be set.")

	status, body, _ = b.call(t, "GET", "/users/"+id+"?$select=businessPhones,otherMails", nil)
	require.Equal(t, 200, status, body)
	require.Equal(t, []any{"+1 555 0100"}, body["businessPhones"], "the refused PATCHes changed nothing")
	require.Equal(t, []any{"lea@fabrikam.com", "lea.b@example.org"}, body["otherMails"])

	// mail puts its address first in proxyAddresses; the former primary
	// stays as a secondary one.
	status, _, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"mail": "lea@contoso.com"})
	require.Equal(t, 204, status)
	status, _, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"mail": "lea.b@contoso.com"})
	require.Equal(t, 204, status)
	status, body, _ = b.call(t, "GET", "/users/"+id+"?$select=proxyAddresses", nil)
	require.Equal(t, 200, status, body)
	require.Equal(t, []any{"SMTP:lea.b@contoso.com", "smtp:lea@contoso.com"}, body["proxyAddresses"])

	// Clearing a collection is an empty list.
	status, _, _ = b.call(t, "PATCH", "/users/"+id, map[string]any{"otherMails": []string{}, "businessPhones": []string{}})
	require.Equal(t, 204, status)
	status, body, _ = b.call(t, "GET", "/users/"+id+"?$select=businessPhones,otherMails", nil)
	require.Equal(t, 200, status, body)
	require.Equal(t, []any{}, body["businessPhones"])
	require.Equal(t, []any{}, body["otherMails"])
}

func TestQueriesAndPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{PageSize: 3})
	for i := range 7 {
		u := newUser("p" + strconv.Itoa(i) + "@contoso.com")
		if i == 4 {
			u["onPremisesImmutableId"] = "AAAAAAAAAAAAAAAAAAAAAA=="
		}
		status, body, _ := b.call(t, "POST", "/users", u)
		require.Equal(t, 201, status, body)
	}
	// Paging: follow @odata.nextLink verbatim until it is absent.
	next, seen, pages := "/users?$select=id,userPrincipalName", map[string]bool{}, 0
	for next != "" {
		status, body, _ := b.call(t, "GET", next, nil)
		require.Equal(t, 200, status, body)
		for _, v := range body["value"].([]any) {
			seen[v.(map[string]any)["userPrincipalName"].(string)] = true
		}
		next, _ = body["@odata.nextLink"].(string)
		pages++
	}
	require.Len(t, seen, 7)
	require.Equal(t, 3, pages)

	status, body, _ := b.call(t, "GET", "/users?$filter="+url.QueryEscape("onPremisesImmutableId eq 'AAAAAAAAAAAAAAAAAAAAAA=='")+"&$select=userPrincipalName", nil)
	require.Equal(t, 200, status, body)
	require.Len(t, body["value"], 1)
	require.Equal(t, "p4@contoso.com", body["value"].([]any)[0].(map[string]any)["userPrincipalName"])
	status, body, _ = b.call(t, "GET", "/users?$filter="+url.QueryEscape("userPrincipalName eq 'P2@contoso.com' or mailNickname eq 'p3'"), nil)
	require.Equal(t, 200, status, body)
	require.Len(t, body["value"], 2)
	status, body, _ = b.call(t, "GET", "/users?$filter="+url.QueryEscape("jobTitle eq 'x'"), nil)
	require.Equal(t, 400, status)
	requireError(t, body, "Request_UnsupportedQuery", "")
	status, body, _ = b.call(t, "GET", "/users?$top=1000", nil)
	require.Equal(t, 400, status)
	requireError(t, body, "Request_UnsupportedQuery", "Invalid page size specified: '1000'. Must be between 1 and 999 inclusive.")
}

func TestGroupsAndMembers(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	var users []string
	for i := range 22 {
		users = append(users, b.mustCreate(t, "m"+strconv.Itoa(i)+"@contoso.com"))
	}
	bind := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, "https://graph.microsoft.com/v1.0/users/"+id)
		}
		return out
	}
	group := map[string]any{"displayName": "VPN users", "mailEnabled": false, "mailNickname": "vpn-users", "securityEnabled": true,
		"groupTypes": []string{}, "members@odata.bind": bind(users[:21])}
	status, body, _ := b.call(t, "POST", "/groups", group)
	require.Equal(t, 400, status, "at most 20 relationships at create")
	group["members@odata.bind"] = bind(users[:2])
	status, body, _ = b.call(t, "POST", "/groups", group)
	require.Equal(t, 201, status, body)
	require.Equal(t, b.url+"/v1.0/$metadata#groups/$entity", body["@odata.context"])
	gid := body["id"].(string)

	ref := func(id string) map[string]any {
		return map[string]any{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/" + id}
	}
	status, _, _ = b.call(t, "POST", "/groups/"+gid+"/members/$ref", ref(users[2]))
	require.Equal(t, 204, status)
	status, body, _ = b.call(t, "POST", "/groups/"+gid+"/members/$ref", ref(users[2]))
	require.Equal(t, 400, status)
	requireError(t, body, "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'members'.")
	status, _, _ = b.call(t, "POST", "/groups/"+gid+"/members/$ref", ref("00000000-0000-0000-0000-000000000000"))
	require.Equal(t, 404, status)
	// Graph documents a member reference as .../directoryObjects/{id}:
	// a user named by its userPrincipalName, or under /users, is not one.
	for _, r := range []string{"https://graph.microsoft.com/v1.0/users/m21@contoso.com", "https://graph.microsoft.com/v1.0/directoryObjects/m21@contoso.com",
		"https://graph.microsoft.com/v1.0/users/" + users[21]} {
		status, body, _ = b.call(t, "POST", "/groups/"+gid+"/members/$ref", map[string]any{"@odata.id": r})
		require.Equal(t, 400, status, r)
		requireError(t, body, "Request_BadRequest", "Invalid object identifier '"+r+"'.")
	}
	status, _, _ = b.call(t, "POST", "/groups/"+gid+"/members/$ref", ref(strings.ToUpper(users[21])))
	require.Equal(t, 204, status, "an object id ignores case")
	status, _, _ = b.call(t, "POST", "/groups/"+gid+"/members/$ref", ref(users[21]))
	require.Equal(t, 400, status, "already a member")
	status, _, _ = b.call(t, "DELETE", "/groups/"+gid+"/members/"+users[21]+"/$ref", nil)
	require.Equal(t, 204, status)
	// Nor does members@odata.bind take a userPrincipalName.
	status, _, _ = b.call(t, "PATCH", "/groups/"+gid, map[string]any{"members@odata.bind": []string{"https://graph.microsoft.com/v1.0/users/m21@contoso.com"}})
	require.Equal(t, 400, status)

	// members@odata.bind on PATCH: all or nothing.
	status, _, _ = b.call(t, "PATCH", "/groups/"+gid, map[string]any{"members@odata.bind": bind(users[3:5])})
	require.Equal(t, 204, status)
	status, _, _ = b.call(t, "PATCH", "/groups/"+gid, map[string]any{"members@odata.bind": bind(users[5:6])})
	require.Equal(t, 204, status)
	status, _, _ = b.call(t, "PATCH", "/groups/"+gid, map[string]any{"members@odata.bind": bind([]string{users[7], users[0]})})
	require.Equal(t, 400, status, "users[0] is a member already: nothing is added")
	_, body, _ = b.call(t, "GET", "/groups/"+gid+"/members", nil)
	require.Len(t, body["value"], 6)

	status, _, _ = b.call(t, "DELETE", "/groups/"+gid+"/members/"+users[2]+"/$ref", nil)
	require.Equal(t, 204, status)
	status, body, _ = b.call(t, "DELETE", "/groups/"+gid+"/members/"+users[2]+"/$ref", nil)
	require.Equal(t, 404, status)
	requireError(t, body, "Request_ResourceNotFound", "Resource '"+users[2]+"' does not exist or one of its queried reference-property objects are not present.")

	// Security groups are deleted for good: never in deleted items.
	status, _, _ = b.call(t, "DELETE", "/groups/"+gid, nil)
	require.Equal(t, 204, status)
	status, _, _ = b.call(t, "GET", "/groups/"+gid, nil)
	require.Equal(t, 404, status)
	status, _, _ = b.call(t, "POST", "/directory/deletedItems/"+gid+"/restore", nil)
	require.Equal(t, 404, status)
}

// deltaRound follows a delta round to its deltaLink and returns its items.
func (b *bundle) deltaRound(t *testing.T, start string) ([]map[string]any, string) {
	t.Helper()
	var items []map[string]any
	next := start
	for {
		status, body, _ := b.call(t, "GET", next, nil)
		require.Equal(t, 200, status, body)
		for _, v := range body["value"].([]any) {
			items = append(items, v.(map[string]any))
		}
		nl, hasNext := body["@odata.nextLink"].(string)
		dl, hasDelta := body["@odata.deltaLink"].(string)
		require.True(t, hasNext != hasDelta, "a page holds a nextLink or a deltaLink, never both")
		if hasDelta {
			return items, dl
		}
		next = nl
	}
}

func TestDelta(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{PageSize: 2})
	a := b.mustCreate(t, "a@contoso.com")
	c := b.mustCreate(t, "c@contoso.com")
	d := b.mustCreate(t, "d@contoso.com")
	status, body, _ := b.call(t, "POST", "/groups", map[string]any{"displayName": "G", "mailEnabled": false, "mailNickname": "g",
		"securityEnabled": true, "members@odata.bind": []string{"https://graph.microsoft.com/v1.0/users/" + a}})
	require.Equal(t, 201, status, body)
	gid := body["id"].(string)

	items, userLink := b.deltaRound(t, "/users/delta?$select=userPrincipalName,accountEnabled")
	require.Len(t, items, 3)
	require.Contains(t, items[0], "accountEnabled")
	gItems, groupLink := b.deltaRound(t, "/groups/delta?$select=displayName,members")
	require.Len(t, gItems, 1)
	require.Equal(t, []any{map[string]any{"@odata.type": "#microsoft.graph.user", "id": a}}, gItems[0]["members@delta"])

	// Nothing changed: an empty round.
	items, userLink = b.deltaRound(t, userLink)
	require.Empty(t, items)

	// A change, a soft delete, a purge, a membership change.
	b.call(t, "PATCH", "/users/"+a, map[string]any{"accountEnabled": false})
	b.call(t, "DELETE", "/users/"+c, nil)
	b.call(t, "DELETE", "/users/"+d, nil)
	b.call(t, "DELETE", "/directory/deletedItems/"+d, nil)
	b.call(t, "DELETE", "/groups/"+gid+"/members/"+a+"/$ref", nil)
	items, userLink = b.deltaRound(t, userLink)
	byID := map[string]map[string]any{}
	for _, it := range items {
		byID[it["id"].(string)] = it
	}
	require.Len(t, byID, 3)
	require.Equal(t, false, byID[a]["accountEnabled"])
	require.Equal(t, map[string]any{"reason": "changed"}, byID[c]["@removed"], "a soft delete is restorable")
	require.Equal(t, map[string]any{"reason": "deleted"}, byID[d]["@removed"])
	gItems, groupLink = b.deltaRound(t, groupLink)
	require.Len(t, gItems, 1)
	require.Equal(t, []any{map[string]any{"@odata.type": "#microsoft.graph.user", "id": a, "@removed": map[string]any{"reason": "deleted"}}},
		gItems[0]["members@delta"])

	// A restore arrives as the full object, with no annotation.
	b.call(t, "POST", "/directory/deletedItems/"+c+"/restore", nil)
	items, userLink = b.deltaRound(t, userLink)
	require.Len(t, items, 1)
	require.Equal(t, "c@contoso.com", items[0]["userPrincipalName"])
	require.NotContains(t, items[0], "@removed")

	// "latest": a deltaLink and no data.
	_, latest := b.deltaRound(t, "/users/delta?$deltatoken=latest")
	items, _ = b.deltaRound(t, latest)
	require.Empty(t, items)

	// Other parameters are refused; an expired token says so.
	status, body, _ = b.call(t, "GET", "/users/delta?$top=5", nil)
	require.Equal(t, 400, status)
	requireError(t, body, "Request_UnsupportedQuery", "")
	b.sim.ExpireDeltaTokens()
	status, body, _ = b.call(t, "GET", userLink, nil)
	require.Equal(t, 400, status)
	requireError(t, body, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
	// Seven days without a round expire a token too.
	_, link := b.deltaRound(t, "/users/delta")
	b.clock.add(7*24*time.Hour + time.Minute)
	b.refresh(t)
	status, _, _ = b.call(t, "GET", link, nil)
	require.Equal(t, 400, status)
}

func TestBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	batch := func(reqs ...map[string]any) (int, map[string]map[string]any) {
		status, body, _ := b.call(t, "POST", "/$batch", map[string]any{"requests": reqs})
		out := map[string]map[string]any{}
		if rs, ok := body["responses"].([]any); ok {
			for _, r := range rs {
				out[r.(map[string]any)["id"].(string)] = r.(map[string]any)
			}
		}
		return status, out
	}
	post := func(id, upn string, deps ...string) map[string]any {
		m := map[string]any{"id": id, "method": "POST", "url": "/users", "headers": map[string]string{"Content-Type": "application/json"},
			"body": newUser(upn)}
		if len(deps) > 0 {
			m["dependsOn"] = deps
		}
		return m
	}
	get := func(id, upn string, deps ...string) map[string]any {
		m := map[string]any{"id": id, "method": "GET", "url": "/users/" + upn + "?$select=id"}
		if len(deps) > 0 {
			m["dependsOn"] = deps
		}
		return m
	}
	b.mustCreate(t, "taken@contoso.com")
	// Fully parallel, with a partial failure: the envelope is 200, each
	// item has its own status, the others are not held back by it.
	status, rs := batch(post("1", "one@contoso.com"), post("2", "taken@contoso.com"), post("3", "three@contoso.com"))
	require.Equal(t, 200, status)
	require.EqualValues(t, 201, rs["1"]["status"])
	require.EqualValues(t, 400, rs["2"]["status"])
	requireError(t, rs["2"]["body"].(map[string]any), "Request_BadRequest", "Another object with the same value for property userPrincipalName already exists.")
	require.EqualValues(t, 201, rs["3"]["status"])

	// Fully sequential, as the documentation's example: 1, then 2, then
	// 4, then 3, each depending on the one before it. Once one fails,
	// every later one fails with 424 and never runs.
	status, rs = batch(post("1", "four@contoso.com"), post("2", "taken@contoso.com", "1"), post("4", "five@contoso.com", "2"),
		get("3", "one@contoso.com", "4"))
	require.Equal(t, 200, status)
	require.EqualValues(t, 201, rs["1"]["status"])
	require.EqualValues(t, 400, rs["2"]["status"])
	require.EqualValues(t, 424, rs["4"]["status"])
	require.EqualValues(t, 424, rs["3"]["status"], "a failure fails the rest of the chain")
	status, _, _ = b.call(t, "GET", "/users/five@contoso.com", nil)
	require.Equal(t, 404, status, "a 424 item never ran")
	status, rs = batch(post("a", "six@contoso.com"), get("B", "six@contoso.com", "A"))
	require.Equal(t, 200, status)
	require.EqualValues(t, 200, rs["B"]["status"], "a chain runs in order; ids ignore case")

	// Any other shape is refused whole: "Batch should be either fully
	// sequential or fully parallel." Requests 1 and 3 first, then 2 after
	// 1 and 4 after 2 (the documentation's old example, issue #2339):
	mixed := [][]map[string]any{
		{get("1", "one@contoso.com"), get("2", "one@contoso.com", "1"), get("3", "one@contoso.com"), get("4", "one@contoso.com", "2")},
		// every request depending on the same one
		{get("1", "one@contoso.com"), get("2", "one@contoso.com", "1"), get("3", "one@contoso.com", "1")},
		// a chain out of the order given, or reaching further back
		{get("1", "one@contoso.com", "2"), get("2", "one@contoso.com")},
		{get("1", "one@contoso.com"), get("2", "one@contoso.com", "1"), get("3", "one@contoso.com", "1", "2")},
		// a dependency on a request not in the batch
		{get("1", "one@contoso.com"), get("2", "one@contoso.com", "9")},
	}
	for i, reqs := range mixed {
		status, body, _ := b.call(t, "POST", "/$batch", map[string]any{"requests": reqs})
		require.Equal(t, 400, status, i)
		requireError(t, body, "BadRequest", "Batch should be either fully sequential or fully parallel.")
	}

	status, _ = batch()
	require.Equal(t, 400, status)
	var many []map[string]any
	for i := range 21 {
		many = append(many, map[string]any{"id": strconv.Itoa(i), "method": "GET", "url": "/users"})
	}
	status, _ = batch(many...)
	require.Equal(t, 400, status, "at most 20 requests")
	status, _ = batch(map[string]any{"id": "a", "method": "GET", "url": "/users"}, map[string]any{"id": "A", "method": "GET", "url": "/users"})
	require.Equal(t, 400, status, "ids are unique, ignoring case")
}

func TestWriteBudget(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{WriteBudget: 3, WriteWindow: 10 * time.Second})
	b.mustCreate(t, "w1@contoso.com")
	b.clock.add(2500 * time.Millisecond)
	b.mustCreate(t, "w2@contoso.com")
	b.mustCreate(t, "w3@contoso.com")
	status, body, h := b.call(t, "POST", "/users", newUser("w4@contoso.com"))
	require.Equal(t, 429, status)
	e := requireError(t, body, "TooManyRequests", "Please retry again later.")
	require.Equal(t, "429", e["innerError"].(map[string]any)["code"])
	require.Equal(t, "7.500", h.Get("Retry-After"), "seconds until the oldest write leaves the window, with decimals")
	require.Equal(t, "Tenant_Application/Write/"+client+"/"+tenant, h.Get("x-ms-throttle-scope"))
	require.Equal(t, "WriteLimitExceeded", h.Get("x-ms-throttle-information"))
	status, _, _ = b.call(t, "GET", "/users", nil)
	require.Equal(t, 200, status, "reads are not writes")

	// Inside a batch, the throttled item carries its own Retry-After.
	status, body, _ = b.call(t, "POST", "/$batch", map[string]any{"requests": []any{map[string]any{"id": "1", "method": "PATCH",
		"url": "/users/w1@contoso.com", "headers": map[string]string{"Content-Type": "application/json"}, "body": map[string]any{"jobTitle": "x"}}}})
	require.Equal(t, 200, status)
	item := body["responses"].([]any)[0].(map[string]any)
	require.EqualValues(t, 429, item["status"])
	require.Equal(t, "7.500", item["headers"].(map[string]any)["Retry-After"])

	b.clock.add(7500 * time.Millisecond)
	status, _, _ = b.call(t, "POST", "/users", newUser("w4@contoso.com"))
	require.Equal(t, 201, status)
	require.Equal(t, 2, b.sim.Stats().Throttled, "two 429s in all")
}
