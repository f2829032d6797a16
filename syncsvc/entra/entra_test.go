package entra_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
)

const (
	tenant = "9b1c3f7e-1111-4222-8333-944455556666"
	client = "0f0e0d0c-aaaa-4bbb-8ccc-0d0e0f101112"
	secret = "sim~secret.value"
)

type bundle struct {
	sim  *graphsim.Server
	url  string
	conn *entra.Connector
}

func setup(t *testing.T, cfg graphsim.Config, tune ...func(*entra.Config)) *bundle {
	t.Helper()
	cfg.TenantID, cfg.ClientID, cfg.ClientSecret = tenant, client, secret
	cfg.InitialDomain, cfg.VerifiedDomains = "contoso.onmicrosoft.com", []string{"contoso.com"}
	sim := graphsim.New(cfg)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	b := &bundle{sim: sim, url: srv.URL}
	b.conn = b.open(t, tune...)
	return b
}

func (b *bundle) config(tune ...func(*entra.Config)) entra.Config {
	c := entra.Config{Client: entra.ClientConfig{Authority: b.url, GraphURL: b.url + "/v1.0", TenantID: tenant, ClientID: client,
		ClientSecret: secret, WriteBudget: -1}}
	for _, f := range tune {
		f(&c)
	}
	return c
}

func (b *bundle) open(t *testing.T, tune ...func(*entra.Config)) *entra.Connector {
	t.Helper()
	conn, err := entra.Open(context.Background(), b.config(tune...))
	require.NoError(t, err)
	return conn
}

func addUser(upn string, attrs ...syncsvc.AttributeChange) syncsvc.ExportChange {
	return syncsvc.ExportChange{Op: syncsvc.ExportAdd, DN: entra.UserDN(upn), Class: syncsvc.ObjectUser, Attributes: attrs,
		Password: "Initial-Pass-1234", Enabled: true}
}

func attr(name, value string) syncsvc.AttributeChange {
	return syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: name, Values: []string{value}}
}

func (b *bundle) export(t *testing.T, ch ...syncsvc.ExportChange) []syncsvc.ExportResult {
	t.Helper()
	res := b.conn.Export(context.Background(), ch)
	require.Len(t, res, len(ch))
	return res
}

func (b *bundle) mustExport(t *testing.T, ch ...syncsvc.ExportChange) []syncsvc.ExportResult {
	t.Helper()
	res := b.export(t, ch...)
	for i, r := range res {
		require.NoError(t, r.Err, "change %d", i)
	}
	return res
}

func (b *bundle) read(t *testing.T, anchor string) syncsvc.ImportedObject {
	t.Helper()
	o, err := b.conn.Read(context.Background(), anchor, "")
	require.NoError(t, err)
	return o
}

func first(o syncsvc.ImportedObject, name string) string {
	if v := o.Attributes[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func TestImmutableID(t *testing.T) {
	t.Parallel()
	id, err := entra.ImmutableID("f7cc07d7-7c15-447d-876d-c01b0e5a9e38")
	require.NoError(t, err)
	require.Equal(t, "1wfM9xV8fUSHbcAbDlqeOA==", id)
	_, err = entra.ImmutableID("not-a-guid")
	require.Error(t, err)
}

func TestClientCredentials(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	for range 3 {
		_, err := b.conn.Read(context.Background(), "nobody@contoso.com", "")
		require.ErrorIs(t, err, syncsvc.ErrNoSuchObject)
	}
	require.Equal(t, 1, b.sim.Stats().TokensIssued, "the token is cached")

	_, err := entra.Open(context.Background(), b.config(func(c *entra.Config) { c.Client.ClientSecret = "wrong" }))
	require.Error(t, err)
	require.Contains(t, err.Error(), "AADSTS7000215")
	require.False(t, errors.Is(err, syncsvc.ErrUnreachable), "bad credentials are not a reason to wait and retry")

	_, err = entra.Open(context.Background(), b.config(func(c *entra.Config) {
		c.Client.GraphURL, c.Client.MaxAttempts = "http://127.0.0.1:1/v1.0", 1
	}))
	require.ErrorIs(t, err, syncsvc.ErrUnreachable)
}

func TestUserLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	guid := "f7cc07d7-7c15-447d-876d-c01b0e5a9e38"
	res := b.mustExport(t, addUser("zoe@contoso.com", attr("displayName", "Zoë Ångström"), attr("givenName", "Zoë"),
		attr(entra.SourceAnchorAttribute, guid), attr("jobTitle", "Nurse")))
	id := res[0].Anchor
	require.NotEmpty(t, id)
	require.Equal(t, entra.UserDN("zoe@contoso.com"), res[0].DN)
	o := b.read(t, id)
	require.Equal(t, "1wfM9xV8fUSHbcAbDlqeOA==", first(o, "onPremisesImmutableId"))
	require.Equal(t, "Zoë Ångström", first(o, "displayName"))
	require.Equal(t, "true", first(o, "accountEnabled"))
	require.Equal(t, "512", first(o, "userAccountControl"))
	require.Equal(t, "zoe", first(o, "mailNickname"))

	// Update; the anchor is never changed; disable through the engine's
	// userAccountControl.
	b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: res[0].DN, Attributes: []syncsvc.AttributeChange{
		attr("jobTitle", "Head nurse"), attr(entra.SourceAnchorAttribute, "00000000-0000-0000-0000-000000000001"),
		attr("userAccountControl", "514"), {Op: syncsvc.AttributeReplace, Name: "givenName"}}})
	o = b.read(t, id)
	require.Equal(t, "Head nurse", first(o, "jobTitle"))
	require.Equal(t, "1wfM9xV8fUSHbcAbDlqeOA==", first(o, "onPremisesImmutableId"))
	require.Equal(t, "false", first(o, "accountEnabled"))
	require.Empty(t, first(o, "givenName"))
	require.NoError(t, b.conn.SetEnabled(context.Background(), res[0].DN, true))
	require.Equal(t, "true", first(b.read(t, id), "accountEnabled"))

	// A rename is a new UPN; one outside the verified domains falls back
	// to the initial domain.
	res = b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportRename, DN: res[0].DN, NewDN: entra.UserDN("zoe.a@fabrikam.com")})
	require.Equal(t, entra.UserDN("zoe.a@contoso.onmicrosoft.com"), res[0].DN)
	require.Equal(t, "zoe.a@contoso.onmicrosoft.com", first(b.read(t, id), "userPrincipalName"))

	// Password: a strong one is set; a weak one is refused in Graph's words.
	require.NoError(t, b.conn.SetPassword(context.Background(), res[0].DN, "Correct-Horse-9"))
	err := b.conn.SetPassword(context.Background(), res[0].DN, "weak")
	var ge *entra.Error
	require.ErrorAs(t, err, &ge)
	require.Equal(t, "Request_BadRequest", ge.Code)
	require.Contains(t, ge.Message, "does not comply with password complexity requirements")
	require.Equal(t, 2, b.sim.Stats().HighPriority, "a password reset is sent with x-ms-throttle-priority: high")

	// Soft delete, then the same person provisioned again: restored, the
	// same object.
	b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportDelete, DN: res[0].DN})
	_, err = b.conn.Read(context.Background(), id, "")
	require.ErrorIs(t, err, syncsvc.ErrNoSuchObject)
	b.conn = b.open(t)
	again := b.mustExport(t, addUser("zoe@contoso.com", attr("displayName", "Zoë Ångström"), attr(entra.SourceAnchorAttribute, guid)))
	require.Equal(t, id, again[0].Anchor, "the soft-deleted user is restored, not made again")
	require.Equal(t, "zoe@contoso.com", first(b.read(t, id), "userPrincipalName"))

	// Deleting what is gone already is not an error.
	b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportDelete, DN: again[0].DN})
	res = b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportDelete, DN: again[0].DN})
	require.NoError(t, res[0].Err)
}

func TestMatching(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	ctx := context.Background()
	// A cloud-only user with the UPN a new person would take.
	cloud := b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, DN: entra.UserDN("ana@contoso.com"), Password: "Cloud-Only-123"})[0]

	// Soft match off (the default): refused with Graph's words, and not
	// as "already exists", which the engine would take over.
	res := b.export(t, addUser("ana@contoso.com", attr(entra.SourceAnchorAttribute, "11111111-2222-3333-4444-555555555555")))
	var ge *entra.Error
	require.ErrorAs(t, res[0].Err, &ge)
	require.Equal(t, "userPrincipalName", ge.Conflict())
	require.Contains(t, ge.Message, "Another object with the same value for property userPrincipalName already exists.")
	require.Contains(t, ge.Message, "soft match by UPN is off")
	require.False(t, errors.Is(res[0].Err, syncsvc.ErrAlreadyExists))
	require.Empty(t, first(b.read(t, cloud.Anchor), "onPremisesImmutableId"))

	// Soft match on: taken, and its immutable ID written.
	soft := b.open(t, func(c *entra.Config) { c.SoftMatch = true })
	res = soft.Export(ctx, []syncsvc.ExportChange{addUser("ana@contoso.com", attr(entra.SourceAnchorAttribute, "11111111-2222-3333-4444-555555555555"))})
	require.NoError(t, res[0].Err)
	require.Equal(t, cloud.Anchor, res[0].Anchor)
	immID, _ := entra.ImmutableID("11111111-2222-3333-4444-555555555555")
	require.Equal(t, immID, first(b.read(t, cloud.Anchor), "onPremisesImmutableId"))

	// Hard match: the same add again (an export repeated after a crash)
	// finds the user by its immutable ID, whatever the setting.
	res = b.mustExport(t, addUser("ana@contoso.com", attr(entra.SourceAnchorAttribute, "11111111-2222-3333-4444-555555555555")))
	require.Equal(t, cloud.Anchor, res[0].Anchor)
	users, _ := b.count(t)
	require.Equal(t, 1, users)
}

// count reads how many users and groups the tenant has.
func (b *bundle) count(t *testing.T) (users, groups int) {
	t.Helper()
	require.NoError(t, b.conn.FullImport(context.Background(), func(o syncsvc.ImportedObject) error {
		if o.Class == syncsvc.ObjectUser {
			users++
		} else {
			groups++
		}
		return nil
	}))
	return users, groups
}

func TestBatchPartialFailure(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	var changes []syncsvc.ExportChange
	for i := range 25 {
		ch := addUser(fmt.Sprintf("u%02d@contoso.com", i))
		if i == 3 {
			ch.Attributes = append(ch.Attributes, attr("jobTitle", strings.Repeat("x", 129)))
		}
		changes = append(changes, ch)
	}
	changes = append(changes, addUser("bad..@contoso.com"))
	res := b.export(t, changes...)
	for i, r := range res {
		switch i {
		case 3:
			var ge *entra.Error
			require.ErrorAs(t, r.Err, &ge)
			require.Equal(t, "Invalid value specified for property 'jobTitle' of resource 'User'.", ge.Message)
			require.Contains(t, r.Err.Error(), "add "+entra.UserDN("u03@contoso.com"))
		case 25:
			require.Error(t, r.Err, "a UPN with '.' before '@'")
		default:
			require.NoError(t, r.Err, i)
			require.Equal(t, changes[i].DN, r.DN)
		}
	}
	require.Equal(t, 2, b.sim.Stats().Batches, "26 adds in batches of 20")
	users, _ := b.count(t)
	require.Equal(t, 24, users)
}

func TestBatchDependsOnAnd424(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	c := b.conn.Client()
	out, err := c.Batch(context.Background(), []entra.BatchRequest{
		{ID: "1", Method: "PATCH", URL: "/users/nobody@contoso.com", Body: map[string]any{"jobTitle": "x"}},
		{ID: "2", Method: "POST", URL: "/users", Body: map[string]any{"accountEnabled": false, "displayName": "D", "mailNickname": "d",
			"userPrincipalName": "d@contoso.com", "passwordProfile": map[string]any{"password": "Dependent-123"}}, DependsOn: []string{"1"}},
		{ID: "3", Method: "GET", URL: "/users/d@contoso.com", DependsOn: []string{"2"}},
	})
	require.NoError(t, err)
	require.Equal(t, 404, out["1"].Status)
	require.ErrorIs(t, out["1"].Err(), syncsvc.ErrNoSuchObject)
	require.Equal(t, http.StatusFailedDependency, out["2"].Status)
	require.Equal(t, http.StatusFailedDependency, out["3"].Status)
	_, err = b.conn.Read(context.Background(), "d@contoso.com", "")
	require.ErrorIs(t, err, syncsvc.ErrNoSuchObject)
}

// TestExportNewMembers: Graph names a member by its object id
// (directoryObjects/{id}), which only the answer to the user's creation
// gives, so a new user's membership goes in the batch after the one that
// creates them; every batch is fully parallel, which the simulator checks
// as Graph does. A user whose creation failed is not looked up by UPN for
// a membership (that found the cloud user holding it), and the group
// change says why while the rest goes through.
func TestExportNewMembers(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	ctx := context.Background()
	gdn := entra.GroupDN("project-x")
	b.mustExport(t, addUser("old@contoso.com"), syncsvc.ExportChange{Op: syncsvc.ExportAdd, DN: gdn, Class: syncsvc.ObjectGroup})
	// A cloud user Tessera did not create holds one UPN (soft match off).
	require.NoError(t, b.conn.Client().Do(ctx, http.MethodPost, "/users", map[string]any{"accountEnabled": false, "displayName": "Taken",
		"mailNickname": "taken", "userPrincipalName": "taken@contoso.com", "passwordProfile": map[string]any{"password": "Cloud-Only-123"}}, nil))

	members := func(dns ...string) syncsvc.ExportChange {
		return syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: gdn, Attributes: []syncsvc.AttributeChange{
			attr("description", "Project X"), {Op: syncsvc.AttributeAddValues, Name: "member", Values: dns}}}
	}
	b.sim.ResetStats()
	b.mustExport(t, addUser("new@contoso.com"), members(entra.UserDN("new@contoso.com")))
	require.Equal(t, 2, b.sim.Stats().Batches, "the user, then the membership naming the id Graph gave")

	b.sim.ResetStats()
	res := b.export(t, addUser("ann@contoso.com"), addUser("taken@contoso.com"),
		members(entra.UserDN("ann@contoso.com"), entra.UserDN("taken@contoso.com"), entra.UserDN("old@contoso.com")))
	require.NoError(t, res[0].Err)
	require.ErrorContains(t, res[1].Err, "soft match by UPN is off")
	require.ErrorContains(t, res[2].Err, "member "+entra.UserDN("taken@contoso.com")+": not added, as its creation failed")
	require.Equal(t, 2, b.sim.Stats().Batches)
	require.Zero(t, b.sim.Stats().Throttled)

	g, err := b.conn.Read(ctx, "", gdn)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{entra.UserDN("new@contoso.com"), entra.UserDN("ann@contoso.com"), entra.UserDN("old@contoso.com")},
		g.Attributes["member"], "the cloud user that holds the UPN was not made a member")
	require.Equal(t, "Project X", first(g, "description"))
}

// TestBatchShapes: the client sends only batches Graph takes, fully
// parallel or a chain; a chain's 429 is sent again with what failed with
// 424 after it, still as a chain.
func TestBatchShapes(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{WriteBudget: 2, WriteWindow: 300 * time.Millisecond})
	c := b.conn.Client()
	ctx := context.Background()
	get := func(id string, deps ...string) entra.BatchRequest {
		return entra.BatchRequest{ID: id, Method: http.MethodGet, URL: "/users?$top=1", DependsOn: deps}
	}
	for _, reqs := range [][]entra.BatchRequest{
		{get("1"), get("2", "1"), get("3")},
		{get("1"), get("2", "1"), get("3", "1")},
		{get("1", "2"), get("2")},
		{get("1"), get("2", "1"), get("3", "1", "2")},
		{get("1"), get("1")},
	} {
		_, err := c.Batch(ctx, reqs)
		require.Error(t, err)
	}
	require.Zero(t, b.sim.Stats().Batches, "refused before sending")

	post := func(id, upn string, deps ...string) entra.BatchRequest {
		return entra.BatchRequest{ID: id, Method: http.MethodPost, URL: "/users", DependsOn: deps, Body: map[string]any{"accountEnabled": false,
			"displayName": upn, "mailNickname": strings.Split(upn, "@")[0], "userPrincipalName": upn,
			"passwordProfile": map[string]any{"password": "Chain-Pass-123"}}}
	}
	// Three writes against a budget of two: the third is throttled, sent
	// again after Retry-After, and the fourth, 424 behind it, with it.
	out, err := c.Batch(ctx, []entra.BatchRequest{post("1", "c1@contoso.com"), post("2", "c2@contoso.com", "1"),
		post("3", "c3@contoso.com", "2"), post("4", "c4@contoso.com", "3")})
	require.NoError(t, err)
	for _, id := range []string{"1", "2", "3", "4"} {
		require.Equal(t, http.StatusCreated, out[id].Status, id)
	}
	st := b.sim.Stats()
	require.GreaterOrEqual(t, st.Batches, 2)
	require.GreaterOrEqual(t, st.ThrottledBody, 1)
	require.Zero(t, st.EarlyRetries, "Retry-After honoured")
}

// TestLinksStayOnGraph: the bearer token is never sent to a link that
// points elsewhere than the system's Graph URL; a deltaLink kept from
// before the Graph URL changed starts the delta again (a full import).
func TestLinksStayOnGraph(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(other.Close)
	ctx := context.Background()
	wm := fmt.Sprintf(`{"users":%q,"groups":""}`, other.URL+"/v1.0/users/delta?$deltatoken=abc")
	_, err := b.conn.DeltaImport(ctx, []byte(wm), func(syncsvc.ImportedObject) error { return nil })
	require.ErrorIs(t, err, syncsvc.ErrWatermarkExpired)
	var foreign *entra.ForeignLinkError
	require.ErrorAs(t, b.conn.Client().Do(ctx, http.MethodGet, other.URL+"/v1.0/users", nil, nil), &foreign)
	require.Zero(t, hits.Load(), "nothing, and no token, went to the other host")
	// Links on the system's own Graph URL are followed verbatim.
	next, err := b.conn.DeltaImport(ctx, nil, func(syncsvc.ImportedObject) error { return nil })
	require.NoError(t, err)
	_, err = b.conn.DeltaImport(ctx, next, func(syncsvc.ImportedObject) error { return nil })
	require.NoError(t, err)
}

func TestThrottling(t *testing.T) {
	t.Parallel()
	// The tenant allows 5 writes in 250 ms; the connector's governor is
	// off, so Graph's 429s and Retry-After do the pacing.
	b := setup(t, graphsim.Config{WriteBudget: 5, WriteWindow: 250 * time.Millisecond})
	var changes []syncsvc.ExportChange
	for i := range 30 {
		changes = append(changes, addUser(fmt.Sprintf("s%02d@contoso.com", i)))
	}
	b.mustExport(t, changes...)
	st := b.sim.Stats()
	require.Positive(t, st.ThrottledBody, "a 429 storm inside batches")
	require.Equal(t, 30, st.Writes, "each throttled item was retried alone; none was sent twice")
	users, _ := b.count(t)
	require.Equal(t, 30, users)

	// A single request throttled: Retry-After (with decimals) honoured.
	b.sim.ResetStats()
	for i := range 12 {
		require.NoError(t, b.conn.SetEnabled(context.Background(), entra.UserDN(fmt.Sprintf("s%02d@contoso.com", i)), false))
	}
	require.Equal(t, 12, b.sim.Stats().Writes)

	// With the governor on, at exactly the tenant's budget, no 429 at
	// all, however long each request's trip takes: a write takes up room
	// in the governor's window from being let go until a window after its
	// answer came back. Batches (each item a write, as Graph counts them)
	// and people's single writes share the budget.
	b.sim.ResetStats()
	b.sim.SetWriteBudget(20, 300*time.Millisecond) // a fresh window
	gov := b.open(t, func(c *entra.Config) { c.Client.WriteBudget, c.Client.WriteWindow = 20, 300*time.Millisecond })
	other := b.open(t, func(c *entra.Config) { c.Client.WriteBudget, c.Client.WriteWindow = 20, 300*time.Millisecond })
	changes = changes[:0]
	for i := range 60 {
		changes = append(changes, addUser(fmt.Sprintf("g%02d@contoso.com", i)))
	}
	people := make(chan error, 1)
	go func() {
		ctx := syncsvc.PersonWaiting(context.Background())
		for i := range 12 {
			if err := other.SetEnabled(ctx, entra.UserDN(fmt.Sprintf("s%02d@contoso.com", i)), true); err != nil {
				people <- err
				return
			}
		}
		people <- nil
	}()
	for i, r := range gov.Export(context.Background(), changes) {
		require.NoError(t, r.Err, "change %d", i)
	}
	require.NoError(t, <-people)
	st = b.sim.Stats()
	require.Equal(t, 72, st.Writes)
	require.Zero(t, st.Throttled, "the governor kept within the tenant's budget")
}

func TestGovernorPriorityLane(t *testing.T) {
	t.Parallel()
	g := entra.NewGovernor(10, time.Second)
	ctx := context.Background()
	done, err := g.Wait(ctx, false, 15) // bulk work reserves the next 1.5 s
	require.NoError(t, err)
	done()
	order := make(chan string, 2)
	go func() {
		if done, err := g.Wait(ctx, false, 1); err == nil {
			done()
			order <- "bulk"
		}
	}()
	go func() {
		if done, err := g.Wait(ctx, true, 1); err == nil {
			done()
			order <- "person"
		}
	}()
	require.Equal(t, "person", <-order, "a person's change goes ahead of queued bulk work")
	require.Equal(t, "bulk", <-order)
}

func TestGroupsAndMembers(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	var adds []syncsvc.ExportChange
	var dns []string
	for i := range 26 {
		adds = append(adds, addUser(fmt.Sprintf("g%02d@contoso.com", i)))
		dns = append(dns, entra.UserDN(fmt.Sprintf("g%02d@contoso.com", i)))
	}
	b.mustExport(t, adds...)
	gdn := entra.GroupDN("vpn-users")
	res := b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, DN: gdn, Class: syncsvc.ObjectGroup, Attributes: []syncsvc.AttributeChange{
		attr("groupType", "-2147483646"), attr("displayName", "VPN users"), attr("description", "Remote access"),
		{Op: syncsvc.AttributeAddValues, Name: "member", Values: dns[:25]}}})
	gid := res[0].Anchor
	g := b.read(t, gid)
	require.Equal(t, "VPN users", first(g, "displayName"))
	require.Len(t, g.Attributes["member"], 25, "20 bound at creation, 5 added by reference")

	// A fresh connector (the next run) resolves DNs itself. A member
	// already present and one already gone are what was wanted.
	b.conn = b.open(t)
	b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: gdn, Attributes: []syncsvc.AttributeChange{
		attr("description", "Remote access for staff"),
		{Op: syncsvc.AttributeAddValues, Name: "member", Values: []string{dns[0], dns[25]}},
		{Op: syncsvc.AttributeDeleteValues, Name: "member", Values: []string{dns[1]}}}})
	b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: gdn, Attributes: []syncsvc.AttributeChange{
		{Op: syncsvc.AttributeDeleteValues, Name: "member", Values: []string{dns[1]}}}})
	g = b.read(t, gid)
	require.Len(t, g.Attributes["member"], 25)
	require.Contains(t, g.Attributes["member"], dns[25])
	require.NotContains(t, g.Attributes["member"], dns[1])
	require.Equal(t, "Remote access for staff", first(g, "description"))

	// The same group made again is refused, not duplicated.
	res = b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, DN: gdn, Class: syncsvc.ObjectGroup})
	require.ErrorIs(t, res[0].Err, syncsvc.ErrAlreadyExists)

	// Security groups are deleted for good.
	b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportDelete, DN: gdn})
	_, err := b.conn.Read(context.Background(), gid, "")
	require.ErrorIs(t, err, syncsvc.ErrNoSuchObject)
}

func TestImports(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{PageSize: 3})
	ctx := context.Background()
	var dns []string
	for i := range 7 {
		upn := fmt.Sprintf("i%d@contoso.com", i)
		b.mustExport(t, addUser(upn, attr("department", "Ward 7")))
		dns = append(dns, entra.UserDN(upn))
	}
	gdn := entra.GroupDN("ward7")
	b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportAdd, DN: gdn, Class: syncsvc.ObjectGroup,
		Attributes: []syncsvc.AttributeChange{{Op: syncsvc.AttributeAddValues, Name: "member", Values: dns[:4]}}})

	b.conn.ImportAlso([]string{"department", "notAGraphProperty"})
	seen := map[string]syncsvc.ImportedObject{}
	require.NoError(t, b.conn.FullImport(ctx, func(o syncsvc.ImportedObject) error { seen[o.DN] = o; return nil }))
	require.Len(t, seen, 8, "7 users over 3 pages, and the group")
	require.Equal(t, "Ward 7", first(seen[dns[0]], "department"))
	require.ElementsMatch(t, dns[:4], seen[gdn].Attributes["member"])

	// Delta: the first round reports everything; later ones the changes.
	collect := func(wm []byte) ([]byte, map[string]syncsvc.ImportedObject) {
		got := map[string]syncsvc.ImportedObject{}
		next, err := b.conn.DeltaImport(ctx, wm, func(o syncsvc.ImportedObject) error { got[o.Anchor] = o; return nil })
		require.NoError(t, err)
		return next, got
	}
	wm, got := collect(nil)
	require.Len(t, got, 8)
	wm, got = collect(wm)
	require.Empty(t, got)

	i0 := seen[dns[0]].Anchor
	b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: dns[0], Attributes: []syncsvc.AttributeChange{attr("department", "Ward 8")}},
		syncsvc.ExportChange{Op: syncsvc.ExportDelete, DN: dns[5]},
		syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: gdn, Attributes: []syncsvc.AttributeChange{
			{Op: syncsvc.AttributeAddValues, Name: "member", Values: []string{dns[6]}},
			{Op: syncsvc.AttributeDeleteValues, Name: "member", Values: []string{dns[1]}}}})
	b.conn = b.open(t) // a new run: the member DNs are found again
	wm, got = collect(wm)
	require.Len(t, got, 3)
	require.Equal(t, "Ward 8", first(got[i0], "department"))
	require.True(t, got[seen[dns[5]].Anchor].Deleted, "a soft-deleted user leaves the tenant's users")
	g := got[seen[gdn].Anchor]
	require.Equal(t, []string{dns[6]}, g.MembersAdded)
	require.Equal(t, []string{dns[1]}, g.MembersRemoved)

	b.sim.ExpireDeltaTokens()
	_, err := b.conn.DeltaImport(ctx, wm, func(syncsvc.ImportedObject) error { return nil })
	require.ErrorIs(t, err, syncsvc.ErrWatermarkExpired)
	var ge *entra.Error
	require.ErrorAs(t, err, &ge)
	require.Equal(t, "syncStateNotFound", ge.Code)
}

// TestMultiValuedProperties: a multi-valued attribute reaches Graph's
// String collections as a list and comes back with every value; what
// Graph would refuse for its shape (two business phones, a read-only
// collection, several values for a property of one) is refused before a
// request is sent.
func TestMultiValuedProperties(t *testing.T) {
	t.Parallel()
	b := setup(t, graphsim.Config{})
	mails := syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "otherMails", Values: []string{"ines@fabrikam.com", "ines.r@example.org"}}
	res := b.mustExport(t, addUser("ines@contoso.com", mails, attr("businessPhones", "+49 30 901820")))
	id, dn := res[0].Anchor, res[0].DN
	b.conn.ImportAlso([]string{"otherMails", "businessPhones", "proxyAddresses"})
	o := b.read(t, id)
	require.Equal(t, []string{"ines@fabrikam.com", "ines.r@example.org"}, o.Attributes["otherMails"])
	require.Equal(t, []string{"+49 30 901820"}, o.Attributes["businessPhones"])

	// Replace semantics: the list sent is the list kept; none clears it.
	b.mustExport(t, syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: dn, Attributes: []syncsvc.AttributeChange{
		{Op: syncsvc.AttributeReplace, Name: "otherMails", Values: []string{"ines.r@example.org", "i.r@example.net"}},
		{Op: syncsvc.AttributeReplace, Name: "businessPhones"}, attr("mail", "ines@contoso.com")}})
	o = b.read(t, id)
	require.Equal(t, []string{"ines.r@example.org", "i.r@example.net"}, o.Attributes["otherMails"])
	require.Empty(t, o.Attributes["businessPhones"])
	require.Equal(t, []string{"SMTP:ines@contoso.com"}, o.Attributes["proxyAddresses"], "read, as Graph keeps it from mail")

	before := b.sim.Stats().Requests
	for _, tc := range []struct {
		change syncsvc.AttributeChange
		says   string
	}{
		{syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "businessPhones", Values: []string{"+1 555 0100", "+1 555 0101"}},
			"at most 1 value(s) in businessPhones"},
		{attr("proxyAddresses", "SMTP:ines@contoso.com"), "proxyAddresses is read-only"},
		{attr("imAddresses", "sip:ines@contoso.com"), "imAddresses is read-only"},
		{syncsvc.AttributeChange{Op: syncsvc.AttributeReplace, Name: "jobTitle", Values: []string{"Nurse", "Midwife"}}, "holds one value"},
	} {
		res := b.export(t, syncsvc.ExportChange{Op: syncsvc.ExportModify, DN: dn, Attributes: []syncsvc.AttributeChange{tc.change}})
		require.ErrorContains(t, res[0].Err, tc.says, tc.change.Name)
		res = b.export(t, addUser("new."+strings.ToLower(tc.change.Name)+"@contoso.com", tc.change))
		require.ErrorContains(t, res[0].Err, tc.says, tc.change.Name)
	}
	require.Equal(t, before, b.sim.Stats().Requests, "nothing Graph would refuse was sent")
}
