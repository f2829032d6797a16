package postgres_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
)

const testPeople = 300

// setup returns a store over a fresh copy of the demo organisation.
func setup(t *testing.T) (*postgres.DB, *demo.Org) {
	t.Helper()
	db := postgres.New(harness.Pool(t, harness.SeededDatabaseURL(t, testPeople)))
	org, err := demo.Generate(testPeople)
	require.NoError(t, err)
	return db, org
}

func TestLoadOrg(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	var people, groups, members, creds, roles int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM groups),
		(SELECT count(*) FROM group_members), (SELECT count(*) FROM local_credentials), (SELECT count(*) FROM person_roles)`).
		Scan(&people, &groups, &members, &creds, &roles))
	require.Equal(t, testPeople, people)
	require.Equal(t, len(org.Groups)+2, groups, "the demo's groups and the two that grant the roles")
	require.Greater(t, members, testPeople)
	require.Equal(t, 4, creds)
	require.Equal(t, 2, roles)

	err := db.LoadOrg(ctx, org)
	require.Equal(t, portal.ECONFLICT, portal.ErrorCode(err), "seeding twice is refused")
}

func TestSearchPeople(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	zoe := org.People[testPeople-1]

	names := func(f portal.PersonFilter) []string {
		t.Helper()
		page, err := db.SearchPeople(ctx, f)
		require.NoError(t, err)
		var out []string
		for _, p := range page.Items {
			out = append(out, p.DisplayName)
		}
		return out
	}
	for _, q := range []string{"Zoë D'Angelo", "zoe dangelo", "DANGELO-ŁUKA", "D’Angelo", "lukasiewicz", "zoe@tessera", "Zo D'"} {
		require.Contains(t, names(portal.PersonFilter{Query: q}), zoe.DisplayName, q)
	}
	for _, q := range []string{"%", "_", `\`, "%%%%", "zzzzqqq"} {
		require.Empty(t, names(portal.PersonFilter{Query: q}), q)
	}
	// Department and office words match anywhere.
	for _, n := range names(portal.PersonFilter{Query: "zürich"}) {
		require.NotEmpty(t, n)
	}
	require.NotEmpty(t, names(portal.PersonFilter{Query: "zurich"}))

	// Results are sorted by folded name, and paging walks on.
	first, err := db.SearchPeople(ctx, portal.PersonFilter{Limit: 10})
	require.NoError(t, err)
	require.True(t, first.More)
	require.Len(t, first.Items, 10)
	second, err := db.SearchPeople(ctx, portal.PersonFilter{Limit: 10, Offset: 10})
	require.NoError(t, err)
	require.NotEqual(t, first.Items[0].ID, second.Items[0].ID)

	// The stem index only proposes rows; a word that shares its stem
	// with one of hers but is not the start of any finds no one.
	for _, q := range []string{"dangel", "lukasiew", "Łuka", "zo lukasiewicz", "zoe tessera example"} {
		require.Contains(t, names(portal.PersonFilter{Query: q}), zoe.DisplayName, q)
	}
	for _, q := range []string{"dangex", "lukasiewiczx", "zoe lukasiewiczx"} {
		require.NotContains(t, names(portal.PersonFilter{Query: q}), zoe.DisplayName, q)
	}

	_, err = db.SearchPeople(ctx, portal.PersonFilter{Query: strings.Repeat("é", 300)})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	_, err = db.SearchPeople(ctx, portal.PersonFilter{Query: "\xff\xfe"})
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
}

// TestSearchStemsFindEveryMatch checks the stem index against the words
// themselves: for prefixes of every length of the words people have (and
// each with a letter too many), the search finds exactly the people one
// of whose words each word of the search starts.
func TestSearchStemsFindEveryMatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	rng := rand.New(rand.NewPCG(7, 8))
	var queries []string
	for range 60 {
		p := org.People[rng.IntN(len(org.People))]
		var words []string
		for _, field := range []string{p.DisplayName, p.Email, p.Title, p.Department, p.Office, p.Phone} {
			words = append(words, strings.FieldsFunc(field, func(r rune) bool { return r == ' ' || r == '@' || r == '.' || r == '-' })...)
		}
		var q []string
		for range 1 + rng.IntN(3) {
			w := []rune(words[rng.IntN(len(words))])
			n := 1 + rng.IntN(len(w)+1)
			if n > len(w) {
				w = append(w, 'q')
			}
			q = append(q, string(w[:min(n, len(w))]))
		}
		queries = append(queries, strings.Join(q, " "))
	}
	found := 0
	for _, q := range queries {
		var want []string
		rows, err := db.Pool.Query(ctx, `SELECT id::text FROM people WHERE search_doc @@ tessera_prefix_query($1) ORDER BY sort_name, id`, q)
		require.NoError(t, err)
		want, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		page, err := db.SearchPeople(ctx, portal.PersonFilter{Query: q, Limit: 100})
		require.NoError(t, err)
		got := []string{}
		for _, p := range page.Items {
			got = append(got, p.ID)
		}
		require.Equal(t, want[:min(100, len(want))], got, "search %q", q)
		if len(want) > 0 {
			found++
		}
		require.Equal(t, len(want), page.Total, "search %q", q)
	}
	require.Greater(t, found, len(queries)/3, "most searches find someone")
}

func TestFindProfile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	zoe := org.Accounts[0]
	prof, err := db.FindProfile(ctx, zoe.PersonID)
	require.NoError(t, err)
	require.Equal(t, "Zoë D'Angelo-Łukasiewicz", prof.Person.DisplayName)
	require.NotEmpty(t, prof.ManagerChain)
	require.Equal(t, org.Accounts[1].PersonID, prof.ManagerChain[0].ID, "the demo manager manages the demo user")
	require.Equal(t, org.People[0].ID, prof.ManagerChain[len(prof.ManagerChain)-1].ID, "the chain ends at the CEO")
	require.NotEmpty(t, prof.Groups)
	require.Equal(t, len(prof.Groups), prof.GroupCount)
	labels := map[string]portal.AttributeValue{}
	for _, a := range prof.Attributes {
		labels[a.Name] = a
	}
	require.Equal(t, portal.VisibleToHelpdesk, labels["costCenter"].Visibility)
	require.Regexp(t, `^CC-[A-Z]{2,3}-\d\d$`, labels["costCenter"].Value)
	require.Regexp(t, `^\d{4}-\d\d-\d\d$`, labels["startDate"].Value)
	prof.Redact(portal.Viewer{PersonID: zoe.PersonID})
	for _, a := range prof.Attributes {
		require.False(t, a.Privileged(), "redacted for an end user: %s", a.Name)
	}

	ceo, err := db.FindProfile(ctx, org.People[0].ID)
	require.NoError(t, err)
	require.Empty(t, ceo.ManagerChain)
	require.Equal(t, 12, ceo.ReportCount)

	for _, id := range []string{"", "nope", "00000000-0000-4000-8000-000000000000", "'; DROP TABLE people; --"} {
		_, err := db.FindProfile(ctx, id)
		require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err), id)
	}
}

func TestGroups(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	page, err := db.SearchGroups(ctx, portal.GroupFilter{Query: "café"})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Equal(t, portal.JoinOpen, page.Items[0].JoinPolicy)

	dept := org.Groups[0]
	d, err := db.FindGroup(ctx, dept.ID, 0, 5)
	require.NoError(t, err)
	require.Equal(t, dept.DisplayName, d.Group.DisplayName)
	require.Len(t, d.Owners, 1)
	require.Len(t, d.Members.Items, 5)
	require.True(t, d.Members.More)
	require.Greater(t, d.Group.MemberCount, 5)

	_, err = db.FindGroup(ctx, "00000000-0000-4000-8000-000000000000", 0, 0)
	require.Equal(t, portal.ENOTFOUND, portal.ErrorCode(err))
}

func TestCheckPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	id, err := db.CheckPassword(ctx, "zoe", demo.DemoPassword)
	require.NoError(t, err)
	require.Equal(t, org.Accounts[0].PersonID, id)
	id, err = db.CheckPassword(ctx, "Zoe@Tessera.Example", demo.DemoPassword)
	require.NoError(t, err)
	require.Equal(t, org.Accounts[0].PersonID, id)

	_, wrong := db.CheckPassword(ctx, "zoe", "nope")
	_, unknown := db.CheckPassword(ctx, "no-such-person", "nope")
	_, empty := db.CheckPassword(ctx, "", "")
	require.Equal(t, portal.EUNAUTHORIZED, portal.ErrorCode(wrong))
	require.Equal(t, wrong, unknown)
	require.Equal(t, wrong, empty)

	// A disabled account cannot sign in, with the same message.
	_, err = db.Pool.Exec(ctx, "UPDATE people SET account_enabled = false WHERE id = $1", org.Accounts[0].PersonID)
	require.NoError(t, err)
	_, disabled := db.CheckPassword(ctx, "zoe", demo.DemoPassword)
	require.Equal(t, wrong, disabled)
}

func TestSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	helpdesk := org.Accounts[2]
	token, err := db.CreateSession(ctx, helpdesk.PersonID, "local", "")
	require.NoError(t, err)
	s, err := db.FindSession(ctx, token, true)
	require.NoError(t, err)
	require.Equal(t, helpdesk.PersonID, s.Viewer.PersonID)
	require.True(t, s.Viewer.SeesPrivileged())
	require.NotEmpty(t, s.CSRFToken)

	var stored int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM sessions WHERE token_hash::text LIKE '%' || $1 || '%'", token).Scan(&stored))
	require.Zero(t, stored, "the token itself is never stored")

	require.NoError(t, db.ExpireSession(ctx, token))
	_, err = db.FindSession(ctx, token, true)
	require.Equal(t, portal.EUNAUTHORIZED, portal.ErrorCode(err))

	token, err = db.CreateSession(ctx, helpdesk.PersonID, "oidc", "")
	require.NoError(t, err)
	require.NoError(t, db.DeleteSession(ctx, token))
	_, err = db.FindSession(ctx, token, true)
	require.Equal(t, portal.EUNAUTHORIZED, portal.ErrorCode(err))
	_, err = db.FindSession(ctx, "garbage", true)
	require.Equal(t, portal.EUNAUTHORIZED, portal.ErrorCode(err))
}

// TestSessionCountsApprovalsForTheBadge: the session counts the approvals
// waiting for its person only as far as the header's badge shows them
// (one past portal.MaxBadgeCount, read as "99+"), while CountMyApprovals,
// for the approvals page, counts them all.
func TestSessionCountsApprovalsForTheBadge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	approver := org.Accounts[1].PersonID
	waiting := portal.MaxBadgeCount + 21
	_, err := db.Pool.Exec(ctx, `WITH g AS (INSERT INTO groups (name, display_name, group_type, join_policy)
			VALUES ('badge-approvals', 'Badge approvals', 'security', 'owner_approval') RETURNING id),
		r AS (INSERT INTO requests (requester_id, operation, group_id, person_id, justification, status, policy_id)
			SELECT p.id, 'add_member', g.id, p.id, 'badge', 'authorizing',
				(SELECT id FROM policies WHERE name = 'Request to join owner-approval groups')
			FROM g, (SELECT id FROM people WHERE id <> $1 ORDER BY id LIMIT $2) p
			RETURNING id),
		a AS (INSERT INTO approvals (request_id, needed, deadline) SELECT id, 1, now() + interval '7 days' FROM r RETURNING id)
		INSERT INTO approvers (approval_id, person_id) SELECT id, $1 FROM a`, approver, waiting)
	require.NoError(t, err)
	token, err := db.CreateSession(ctx, approver, "local", "")
	require.NoError(t, err)
	s, err := db.FindSession(ctx, token, true)
	require.NoError(t, err)
	require.Equal(t, portal.MaxBadgeCount+1, s.PendingApprovals, "counted only as far as the badge shows")
	lean, err := db.FindSession(ctx, token, false)
	require.NoError(t, err)
	require.Equal(t, -1, lean.PendingApprovals, "not counted when no page shows them")
	require.Equal(t, s.Viewer, lean.Viewer)
	require.Equal(t, s.CSRFToken, lean.CSRFToken)
	n, err := db.CountMyApprovals(ctx, s.Viewer)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, waiting, "the approvals page counts them all")
}

func TestFindPersonByAttribute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	p := org.People[5]
	for attr, v := range map[string]string{"email": p.Email, "upn": p.Email, "account_name": p.AccountName, "employee_id": p.EmployeeID} {
		id, err := db.FindPersonByAttribute(ctx, attr, v)
		require.NoError(t, err, attr)
		require.Equal(t, p.ID, id, attr)
	}
	_, err := db.FindPersonByAttribute(ctx, "email", "stranger@elsewhere.example")
	require.Equal(t, portal.EUNAUTHORIZED, portal.ErrorCode(err))
	require.Contains(t, portal.ErrorMessage(err), "stranger@elsewhere.example")
	_, err = db.FindPersonByAttribute(ctx, "title; DROP TABLE people", "x")
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
}

func TestOIDCFlows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := setup(t)
	f := portal.OIDCFlow{State: "state-1", Nonce: "n", CodeVerifier: "v", ReturnTo: "/groups"}
	require.NoError(t, db.SaveOIDCFlow(ctx, f))
	got, err := db.TakeOIDCFlow(ctx, "state-1")
	require.NoError(t, err)
	require.Equal(t, f, *got)
	_, err = db.TakeOIDCFlow(ctx, "state-1")
	require.Equal(t, portal.EUNAUTHORIZED, portal.ErrorCode(err), "a state works once")

	require.NoError(t, db.SaveOIDCFlow(ctx, portal.OIDCFlow{State: "old", Nonce: "n", CodeVerifier: "v", ReturnTo: "/"}))
	_, err = db.Pool.Exec(ctx, "UPDATE oidc_flows SET expires_at = now() - interval '1 minute'")
	require.NoError(t, err)
	_, err = db.TakeOIDCFlow(ctx, "old")
	require.Equal(t, portal.EUNAUTHORIZED, portal.ErrorCode(err), "an expired state is refused")
}

func TestAuditChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	for range 3 {
		token, err := db.CreateSession(ctx, org.Accounts[0].PersonID, "local", "")
		require.NoError(t, err)
		require.NoError(t, db.DeleteSession(ctx, token))
	}
	require.NoError(t, db.ChainAudit(ctx)) // as a worker's sequencer does
	rows, err := db.Pool.Query(ctx, "SELECT prev_hash, hash FROM audit_log ORDER BY id")
	require.NoError(t, err)
	var prev []byte
	n := 0
	for rows.Next() {
		var p, h []byte
		require.NoError(t, rows.Scan(&p, &h))
		require.Equal(t, prev, p, "entry %d links to the one before", n)
		require.Len(t, h, 32)
		prev = h
		n++
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, n, 7, "seed, 3 sign-ins and 3 sign-outs")
}

func TestRemoveExpired(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	live, err := db.CreateSession(ctx, org.Accounts[0].PersonID, "local", "")
	require.NoError(t, err)
	old, err := db.CreateSession(ctx, org.Accounts[1].PersonID, "local", "")
	require.NoError(t, err)
	require.NoError(t, db.ExpireSession(ctx, old))
	require.NoError(t, db.SaveOIDCFlow(ctx, portal.OIDCFlow{State: "stale", Nonce: "n", CodeVerifier: "v", ReturnTo: "/"}))
	_, err = db.Pool.Exec(ctx, "UPDATE oidc_flows SET expires_at = now() - interval '1 minute'")
	require.NoError(t, err)

	n, err := db.RemoveExpired(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)
	_, err = db.FindSession(ctx, live, true)
	require.NoError(t, err, "live sessions stay")
	n, err = db.RemoveExpired(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
}
