package hr_test

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/workflow"
)

func TestMain(m *testing.M) { harness.Main(m) }

// hrWorld is a test's own database with an engine that knows only HR
// sources, the HR service, whose queued uploads the test applies itself
// (in the test's goroutine: Receive queues synchronously), and an
// administrator to act as.
type hrWorld struct {
	pool   *pgxpool.Pool
	db     *postgres.DB
	engine *syncsvc.Engine
	svc    *hr.Service
	admin  portal.Viewer
	queued []int64
}

func newHRWorld(t *testing.T) *hrWorld {
	t.Helper()
	pool := harness.Postgres(t)
	db := postgres.New(pool)
	w := &hrWorld{pool: pool, db: db, admin: portal.Viewer{Roles: []portal.Role{portal.RoleAdmin}}}
	w.engine = &syncsvc.Engine{Pool: pool, Systems: postgres.NewConnectedSystems(db, nil), Open: hr.Opener(pool), Requests: db, Dynamic: db}
	w.svc = &hr.Service{Pool: pool, Engine: w.engine,
		Queue: func(ctx context.Context, tx pgx.Tx, id int64) error { w.queued = append(w.queued, id); return nil }}
	return w
}

// fixture is one test's database, its OU in the shared Samba AD DC with
// a connected system, an HR source, and the HR service whose queued
// uploads the test applies itself.
type fixture struct {
	pool   *pgxpool.Pool
	db     *postgres.DB
	ldap   *ldap.Conn
	ad     *harness.ADSystem
	engine *syncsvc.Engine
	svc    *hr.Service
	hrID   string
	prefix string
	mu     sync.Mutex
	queued []int64
	adDown atomic.Bool // AD does not answer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, harness.Postgres(t))
}

// newFixtureOn is newFixture on pool, a new migrated database's.
func newFixtureOn(t *testing.T, pool *pgxpool.Pool) *fixture {
	t.Helper()
	ctx := context.Background()
	dc := harness.Samba(t)
	f := &fixture{pool: pool, ldap: dc.Dial(t), prefix: fmt.Sprintf("h%04d", mrand.IntN(10000))}
	db := postgres.New(f.pool)
	f.db = db
	f.ad = harness.NewADSystem(t, db, dc, f.prefix)
	adOpen, hrOpen := ad.Opener(f.ad.Systems), hr.Opener(f.pool)
	f.engine = &syncsvc.Engine{Pool: f.pool, Systems: f.ad.Systems, Dynamic: db, Requests: db,
		Open: func(ctx context.Context, sys portal.ConnectedSystem) (syncsvc.Connector, error) {
			if sys.Type == portal.SystemHR {
				return hrOpen(ctx, sys)
			}
			if f.adDown.Load() {
				return nil, fmt.Errorf("%w: the test holds AD down", syncsvc.ErrUnreachable)
			}
			return adOpen(ctx, sys)
		}}
	f.svc = &hr.Service{Pool: f.pool, Engine: f.engine, Queue: func(ctx context.Context, tx pgx.Tx, id int64) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.queued = append(f.queued, id)
		return nil
	}}
	// AD: accounts under OU=<department>, enabled with a random password.
	u := syncsvc.DefaultUserRule(f.ad.System.ID, dc.BaseDN)
	u.DNTemplate = "CN={displayName},OU={department},OU=People," + f.ad.OU
	u.InitialPassword, u.EnableOnCreate = "random", true
	require.NoError(t, f.engine.SaveSyncRule(ctx, f.ad.Admin, u))
	run, err := f.engine.Run(ctx, f.ad.System.ID, syncsvc.FullImport, syncsvc.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, "succeeded", run.Status, run.Message)
	cols := hr.DefaultColumns()
	cols[hr.FieldAccountName] = "Account" // account names unique across the shared domain
	f.hrID, err = f.svc.CreateSource(ctx, f.ad.Admin, "HR "+f.prefix, hr.Settings{Columns: cols})
	require.NoError(t, err)
	return f
}

// receive sends a file as the watched folder would, applying it unless
// it stops at the threshold.
func (f *fixture) receive(t *testing.T, content []byte) *hr.Upload {
	t.Helper()
	u, err := f.svc.Receive(context.Background(), portal.Viewer{}, hr.Incoming{SystemID: f.hrID, Source: "cli", Filename: "people.csv",
		Content: content, Apply: true})
	require.NoError(t, err)
	return u
}

// applyQueued runs the jobs the service queued, as River's worker would.
func (f *fixture) applyQueued(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	ids := f.queued
	f.queued = nil
	f.mu.Unlock()
	for _, id := range ids {
		require.NoError(t, f.svc.ApplyHRUpload(context.Background(), id))
		u, err := f.svc.Upload(context.Background(), id)
		require.NoError(t, err)
		require.Equal(t, hr.StatusApplied, u.Status, u.Message)
	}
}

// account reads an AD account by its account name.
func (f *fixture) account(t *testing.T, name string) *ldap.Entry {
	t.Helper()
	res, err := f.ldap.Search(ldap.NewSearchRequest(f.ad.OU, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(sAMAccountName="+ldap.EscapeFilter(name)+")", []string{"manager", "title", "sn", "userAccountControl", "department"}, nil))
	require.NoError(t, err)
	require.Len(t, res.Entries, 1, "account %s", name)
	return res.Entries[0]
}

func disabled(t *testing.T, e *ldap.Entry) bool {
	uac, err := strconv.Atoi(e.GetAttributeValue("userAccountControl"))
	require.NoError(t, err)
	return uac&2 != 0
}

// row is one line of the test's HR file.
type row struct{ id, first, last, title, dept, manager, start, end string }

func (f *fixture) file(sep string, rows ...row) string {
	var b strings.Builder
	b.WriteString(strings.Join([]string{"EmployeeID", "Account", "FirstName", "LastName", "JobTitle", "Department", "ManagerID", "StartDate", "EndDate"}, sep) + "\n")
	for _, r := range rows {
		acct := ""
		if r.id != "" {
			acct = f.prefix + strings.ToLower(r.id)
		}
		fmt.Fprintln(&b, strings.Join([]string{r.id, acct, r.first, r.last, r.title, r.dept, r.manager, r.start, r.end}, sep))
	}
	return b.String()
}

// An HR file's joiners, movers and leavers reach AD: accounts created
// under their department with their manager's DN, moved when the
// department changes, disabled when they leave; a manager who arrives in a
// later file is resolved then; a file that lacks 10 % of the people stops
// until "Confirm".
func TestHRFileJoinersMoversLeaversReachAD(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	base := []row{
		{"B1", "Bea", "Boss", "Director", "Sales", "", "2020-01-01", ""},
		{"E2", "Eli", "Two", "Seller", "Sales", "B1", "2021-03-01", ""},
		{"E3", "Eve", "Three", "Seller", "Sales", "B1", "", ""},
		{"E4", "Eda", "Four", "Seller", "Sales", "B1", "", ""},
		{"E5", "Ela", "Five", "Seller", "Sales", "B1", "", ""},
		{"E6", "Emi", "Six", "Seller", "Sales", "B1", "", ""},
		{"E7", "Eno", "Seven", "Seller", "Sales", "B1", "", ""},
		{"E8", "Ely", "Eight", "Seller", "Sales", "B1", "", ""},
		{"E9", "Eun", "Nine", "Seller", "Sales", "B1", "", ""},
		{"E10", "Ena", "Ten", "Seller", "Sales", "B1", "", ""},
		// Their manager is hired in the next file.
		{"E11", "Eir", "Eleven", "Engineer", "IT", "E12", "", ""},
	}
	bad := []row{
		// Tessera takes 256 characters, AD's title 128: the tightest limit of
		// every system the title reaches is the one that counts.
		{"E13", "Ezra", "Thirteen", strings.Repeat("t", 200), "Sales", "B1", "", ""},
		{"E14", "Ezio", "Fourteen", "Seller", "Sales", "B1", "2024-02-31", ""},
		{"", "No", "Body", "Seller", "Sales", "", "", ""},
	}
	// Eun is in the portal already, with an email the file has no column
	// for: HR's first file joins her and leaves her email as it is.
	_, err := f.pool.Exec(ctx, `INSERT INTO people (account_name, given_name, surname, display_name, employee_id, email)
		VALUES ($1, 'Eun', 'Nine', 'Eun Nine', 'E9', 'eun@example.test')`, f.prefix+"e9")
	require.NoError(t, err)
	// UTF-8 with a byte order mark.
	first := f.receive(t, []byte("\ufeff"+f.file(",", append(base, bad...)...)))
	require.Equal(t, hr.StatusQueued, first.Status, first.Message)
	require.Equal(t, 11, first.Joiners)
	// Each refusal in English (Reason), and kept as a text to translate.
	var refusals []hr.Refusal
	for _, r := range first.Refusals {
		require.False(t, r.Text.IsZero(), "line %d keeps its reason to translate", r.Line)
		refusals = append(refusals, hr.Refusal{Line: r.Line, Reason: r.Reason})
	}
	require.Equal(t, []hr.Refusal{
		{Line: 13, Reason: "Title is 200 characters long; " + f.ad.System.Name + " (title) takes at most 128"},
		{Line: 14, Reason: `the start date "2024-02-31" is not a date as YYYY-MM-DD`},
		{Line: 15, Reason: "it has no employee ID"},
	}, refusals)
	f.applyQueued(t)

	boss := f.account(t, f.prefix+"b1")
	require.False(t, disabled(t, boss), "joiners are enabled")
	e2 := f.account(t, f.prefix+"e2")
	require.True(t, syncsvc.SameDN(boss.DN, e2.GetAttributeValue("manager")), "manager as a DN: %q", e2.GetAttributeValue("manager"))
	require.Contains(t, e2.DN, "OU=Sales,OU=People,")
	require.Empty(t, f.account(t, f.prefix+"e11").GetAttributeValue("manager"), "their manager is not hired yet")
	var mgr string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT m.employee_id FROM people p JOIN people m ON m.id = p.manager_id
		WHERE p.employee_id = 'E2'`).Scan(&mgr))
	require.Equal(t, "B1", mgr, "the org chart follows HR")
	var email, manager9 string
	require.NoError(t, f.pool.QueryRow(ctx, `SELECT p.email, m.employee_id FROM people p JOIN people m ON m.id = p.manager_id
		WHERE p.employee_id = 'E9'`).Scan(&email, &manager9))
	require.Equal(t, []string{"eun@example.test", "B1"}, []string{email, manager9}, "joined, not projected; her email kept")

	// E2 is in a group its owners approved her for, and a rule selects
	// the people of IT. Her managers, old (reading German) and new, are
	// mailed through River's worker and a real SMTP server.
	id := func(emp string) (pid string) {
		require.NoError(t, f.pool.QueryRow(ctx, "SELECT id FROM people WHERE employee_id = $1", emp).Scan(&pid))
		return pid
	}
	e2ID, oldBoss, newBoss := id("E2"), id("B1"), id("E10")
	var deals, it string
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy)
		VALUES ($1, 'Deal desk', 'security', 'owner_approval') RETURNING id`, "deals"+f.prefix).Scan(&deals))
	require.NoError(t, f.pool.QueryRow(ctx, `INSERT INTO groups (name, display_name, group_type, join_policy, membership_rule)
		VALUES ($1, 'IT people', 'security', 'closed', 'person.department == "IT"') RETURNING id`, "it"+f.prefix).Scan(&it))
	_, err = f.pool.Exec(ctx, "INSERT INTO group_members (group_id, person_id) VALUES ($1, $2)", deals, e2ID)
	require.NoError(t, err)
	oldMail, newMail := f.prefix+"-b1@example.org", f.prefix+"-e10@example.org"
	_, err = f.pool.Exec(ctx, `UPDATE people SET email = CASE id WHEN $1 THEN $3 ELSE $4 END WHERE id IN ($1, $2)`,
		oldBoss, newBoss, oldMail, newMail)
	require.NoError(t, err)
	_, err = f.pool.Exec(ctx, `INSERT INTO person_settings (person_id, language) VALUES ($1, 'de')
		ON CONFLICT (person_id) DO UPDATE SET language = 'de'`, oldBoss)
	require.NoError(t, err)
	sink := harness.SMTP(t)
	mailer, err := workflow.NewSMTPMailer(workflow.SMTPConfig{Host: sink.Host(), Port: sink.Port(), TLS: workflow.SMTPStartTLS,
		CAFile: sink.CAFile(), Username: harness.SMTPUsername, Password: harness.SMTPPassword, From: "Tessera <tessera@tessera.example>"})
	require.NoError(t, err)
	f.svc.Notify = workflow.HRNoticeQueue(harness.StartWorkersWith(t, postgres.New(f.pool),
		workflow.Deps{Teams: f.svc, Mailer: mailer, BaseURL: "http://tessera.test"}))

	// The next file is Latin-1 with semicolons: E2 moves to IT under E10,
	// E3 is renamed and promoted, E4 is gone, E12 joins and manages E11.
	set, _, err := f.svc.Settings(ctx, f.hrID)
	require.NoError(t, err)
	set.Delimiter = ';'
	require.NoError(t, f.svc.SaveSettings(ctx, f.ad.Admin, set))
	next := []row{base[0], base[1], base[2]}
	next[1].dept, next[1].manager = "IT", "E10"
	next[2].last, next[2].title = "Léger", "Lead seller"
	next = append(next, base[4:]...)
	next = append(next, row{"E12", "Ivo", "Twelve", "IT manager", "IT", "", "", ""})
	latin1 := []byte{}
	for _, r := range f.file(";", next...) {
		require.Less(t, r, rune(256))
		latin1 = append(latin1, byte(r))
	}
	second := f.receive(t, latin1)
	require.Equal(t, hr.StatusQueued, second.Status, second.Message)
	require.Equal(t, []int{1, 2, 1}, []int{second.Joiners, second.Movers, second.Leavers}, "joiners, movers, leavers")
	require.Empty(t, second.Refusals)
	f.applyQueued(t)

	require.Contains(t, f.account(t, f.prefix+"e2").DN, "OU=IT,OU=People,", "a mover's account moves with the department")
	var inIT bool
	require.NoError(t, f.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM group_members WHERE group_id = $1 AND person_id = $2)",
		it, e2ID).Scan(&inIT))
	require.True(t, inIT, "the rules recompute a mover's dynamic groups")
	for _, boss := range []string{oldBoss, newBoss} {
		notices, err := f.svc.TeamNotices(ctx, boss, 10)
		require.NoError(t, err)
		require.Len(t, notices, 1, "both managers see the mover")
		require.Equal(t, portal.TeamNoticeMoved, notices[0].Kind)
		require.Equal(t, e2ID, notices[0].PersonID)
		require.Equal(t, []string{"Deal desk"}, []string{notices[0].Groups[0].DisplayName}, "the owner-approved groups, not the computed")
		require.Len(t, notices[0].Groups, 1)
	}
	de := sink.WaitFor(t, oldMail, "hat gewechselt: Gruppen zur Prüfung", time.Minute)
	require.Contains(t, de.Text, "Deal desk")
	en := sink.WaitFor(t, newMail, "moved: groups to review", time.Minute)
	require.Contains(t, en.Text, "Deal desk")
	require.Contains(t, en.Text, "http://tessera.test/people/"+e2ID)
	e3 := f.account(t, f.prefix+"e3")
	require.Equal(t, "Léger", e3.GetAttributeValue("sn"))
	require.Equal(t, "Lead seller", e3.GetAttributeValue("title"))
	require.True(t, disabled(t, f.account(t, f.prefix+"e4")), "a leaver is disabled")
	e12 := f.account(t, f.prefix+"e12")
	require.True(t, syncsvc.SameDN(e12.DN, f.account(t, f.prefix+"e11").GetAttributeValue("manager")),
		"the reference to a manager not yet hired is resolved when they arrive")

	// Three of the ten people left at once: past the 10 % threshold.
	third := append([]row{next[0], next[1], next[2]}, next[6:]...)
	stopped := f.receive(t, []byte(strings.ReplaceAll(f.file(";", third...), "é", "e")))
	require.Equal(t, hr.StatusWaiting, stopped.Status)
	require.Equal(t, 3, stopped.Leavers)
	require.Contains(t, stopped.Message, "threshold")
	// Kept as text too, for a reader in another language: the counts are
	// its arguments.
	format, args := stopped.MessageText.MessageFormat()
	require.True(t, strings.HasPrefix(format, "Stopped before applying anything: %d of the %d people"), format)
	require.Len(t, args, 3)
	require.Equal(t, int64(3), args[0], "stored and read back")
	require.Empty(t, f.queued, "nothing is applied before the confirmation")
	require.False(t, disabled(t, f.account(t, f.prefix+"e5")))
	require.Error(t, f.svc.Confirm(ctx, portal.Viewer{}, stopped.ID), "only administrators confirm")
	require.NoError(t, f.svc.Confirm(ctx, f.ad.Admin, stopped.ID))
	f.applyQueued(t)
	for _, id := range []string{"e5", "e6", "e7"} {
		require.True(t, disabled(t, f.account(t, f.prefix+id)), "%s left", id)
	}
	require.False(t, disabled(t, f.account(t, f.prefix+"e8")))
}

// Joiners sent one at a time over SCIM, as an HR system sends new hires,
// each reach AD under an account name made from their names; a bulk
// request names only its own people, so the earlier joiners stay. One
// whose account cannot be named (no department for its OU) is not lost
// silently: AD's run history says why.
func TestHRSCIMJoinersReachAD(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	id, err := f.svc.CreateSource(ctx, f.ad.Admin, "SCIM "+f.prefix, hr.Settings{Columns: hr.DefaultColumns()})
	require.NoError(t, err)
	send := func(i int, extra string) int64 {
		t.Helper()
		body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST",
			"bulkId":"1","path":"/Users","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"externalId":"S%s-%d",%s
			"active":true,"name":{"givenName":"Jo","familyName":"%s Iner%d"}}}]}`, f.prefix, i, extra, f.prefix, i)
		u, err := f.svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: id, Source: "scim", Content: []byte(body), Apply: true})
		require.NoError(t, err)
		require.Equal(t, hr.StatusQueued, u.Status, u.Message)
		require.Equal(t, 1, u.Joiners)
		f.applyQueued(t)
		return u.ID
	}
	for i := range 3 {
		send(i, `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"},`)
		require.False(t, disabled(t, f.account(t, fmt.Sprintf("jo.%siner%d", f.prefix, i))), "joiner %d is enabled in AD", i)
	}
	// A joiner applied while AD does not answer: the job's retry, finding
	// the upload applied, still exports them.
	f.adDown.Store(true)
	body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST",
		"bulkId":"1","path":"/Users","data":{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"externalId":"S%s-down",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Sales"},
		"active":true,"name":{"givenName":"Jo","familyName":"%s Down"}}}]}`, f.prefix, f.prefix)
	down, err := f.svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: id, Source: "scim", Content: []byte(body), Apply: true})
	require.NoError(t, err)
	f.mu.Lock()
	f.queued = nil
	f.mu.Unlock()
	err = f.svc.ApplyHRUpload(ctx, down.ID)
	require.ErrorIs(t, err, syncsvc.ErrUnreachable, "the job is tried again")
	applied, err := f.svc.Upload(ctx, down.ID)
	require.NoError(t, err)
	require.Equal(t, hr.StatusApplied, applied.Status)
	f.adDown.Store(false)
	require.NoError(t, f.svc.ApplyHRUpload(ctx, down.ID))
	require.False(t, disabled(t, f.account(t, fmt.Sprintf("jo.%sdown", f.prefix))), "the retry exported the joiner")
	require.NoError(t, f.svc.ApplyHRUpload(ctx, down.ID), "a third run finds nothing left to export")

	unnamed := send(3, "")
	runs, err := f.engine.Runs(ctx, f.ad.System.ID, 5)
	require.NoError(t, err)
	require.NotEmpty(t, runs)
	require.Equal(t, "completed_with_errors", runs[0].Status)
	objs, err := f.engine.RunObjects(ctx, runs[0].ID, "error", 10)
	require.NoError(t, err)
	require.Len(t, objs, 1)
	require.Contains(t, objs[0].Detail, "department is empty")
	// The upload's page, where an administrator looks for HR's troubles,
	// says so too.
	exports, err := f.svc.Exports(ctx, unnamed)
	require.NoError(t, err)
	var shown []string
	for _, x := range exports {
		require.Equal(t, f.ad.System.ID, x.Run.SystemID)
		for _, o := range x.Errors {
			shown = append(shown, o.Detail)
		}
	}
	require.Len(t, shown, 1)
	require.Contains(t, shown[0], "department is empty")
}
