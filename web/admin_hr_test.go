package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal/demo"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/web"
	"github.com/tessera-idm/tessera/workflow"
)

// setupHR serves the portal with the HR service and River's workers, on a
// seeded database, as cmd/tessera wires them (no AD).
func setupHR(t *testing.T) (*testBundle, *pgxpool.Pool) {
	t.Helper()
	pool := harness.Pool(t, harness.SeededDatabaseURL(t, testPeople))
	db := postgres.New(pool)
	org, err := demo.Generate(testPeople)
	require.NoError(t, err)
	systems := postgres.NewConnectedSystems(db, nil)
	engine := &syncsvc.Engine{Pool: pool, Systems: systems, Open: hr.Opener(pool), Logger: slog.New(slog.DiscardHandler), Requests: db, Dynamic: db}
	svc := &hr.Service{Pool: pool, Engine: engine, Logger: slog.New(slog.DiscardHandler)}
	svc.Queue = workflow.HRApplyQueue(harness.StartWorkersWith(t, db, workflow.Deps{HR: svc, Sync: engine}))
	s := &web.Server{Config: web.Config{BaseURL: "http://tessera.test"}, People: db, Groups: db, Auth: db, Flows: db,
		Requests: db, Admin: db, Systems: systems, Logger: slog.New(slog.DiscardHandler), Sync: engine, HR: svc}
	h := s.Handler()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testBundle{srv: srv, handler: h, db: db, org: org}, pool
}

// upload posts a file in a multipart form, as a browser's file input does.
func (c *client) upload(path, field, filename string, content []byte) (*http.Response, string) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	require.NoError(c.t, mw.WriteField("csrf", c.csrf))
	fw, err := mw.CreateFormFile(field, filename)
	require.NoError(c.t, err)
	_, err = fw.Write(content)
	require.NoError(c.t, err)
	require.NoError(c.t, mw.Close())
	req, err := http.NewRequest("POST", c.base+path, &body)
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

// An administrator adds an HR source, uploads a Latin-1 file, reads its
// preview (joiners, movers, refused rows with line and reason) and applies
// it: River's worker brings the joiner into the portal.
func TestHRUploadPreviewAndApply(t *testing.T) {
	t.Parallel()
	tb, pool := setupHR(t)
	var known string // a seeded person's employee ID
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT employee_id FROM people WHERE employee_id IS NOT NULL LIMIT 1").Scan(&known))

	c := tb.client(t)
	c.mustSignIn("ada")
	_, body := c.get("/admin/hr")
	require.Contains(t, body, "There is no HR source yet.")
	resp, _ := c.post("/admin/hr", c.form("name", "Payroll", "folder", ""))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	source := resp.Header.Get("Location")
	_, body = c.get(source)
	require.Contains(t, body, `data-testid="hr-upload"`)
	require.Contains(t, body, `name="col_employeeId" type="text" maxlength="100" value="EmployeeID"`)
	// The demo's costCenter, an attribute an administrator added, is a
	// field a column maps to.
	require.Contains(t, body, `<label for="col_costCenter">Cost centre</label>`)

	// Semicolons and Latin-1: the settings say so.
	resp, body = c.post(regexp.MustCompile(`\?.*`).ReplaceAllString(source, ""), c.form("folder", "", "delimiter", "semicolon",
		"encoding", "latin-1", "leaver_threshold", "10", "prehire_days", "7", "time_zone", "Europe/London",
		"col_employeeId", "EmployeeID", "col_givenName", "FirstName", "col_surname", "LastName", "col_title", "JobTitle",
		"col_department", "Department", "col_manager", "ManagerID", "col_costCenter", "CostCentre"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)

	file := []byte("EmployeeID;FirstName;LastName;JobTitle;Department;ManagerID;CostCentre\n" +
		known + ";Renée;Known;Analyst;Finance;;\n" +
		"HR-NEW-1;Zo\xe9;Nouvelle;Engineer;IT;" + known + ";CC-42\n" +
		"HR-NEW-2;Self;Managed;Engineer;IT;HR-NEW-2;\n")
	for i, b := range file {
		if b == 0xc3 { // "Renée" above is UTF-8 in this source: make it Latin-1
			file = append(file[:i], append([]byte{0xe9}, file[i+2:]...)...)
			break
		}
	}
	resp, _ = c.upload(regexp.MustCompile(`\?.*`).ReplaceAllString(source, "")+"/upload", "file", "people.csv", file)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	preview := resp.Header.Get("Location")
	_, body = c.get(preview)
	require.Contains(t, body, `<strong data-testid="joiners">2</strong> joiners`, "a seeded person new to HR joins them, and a new one")
	require.Contains(t, body, `<strong data-testid="refused">1</strong> refused`)
	require.Contains(t, body, "<td>4</td><td>employee HR-NEW-2 is named as their own manager</td>")
	require.Contains(t, body, `data-testid="hr-status" data-status="previewed"`)
	// The refusal is kept as its format and arguments: an administrator
	// who reads German reads it in German.
	resp, _ = c.post("/settings/language", c.form("language", "de"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get(preview)
	require.Contains(t, body, "<td>4</td><td>die Person HR-NEW-2 ist als ihre eigene Führungskraft angegeben</td>")
	resp, _ = c.post("/settings/language", c.form("language", ""))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	resp, _ = c.post(preview+"/apply", c.form())
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	body = c.waitFor(preview, `data-testid="hr-status" data-status="applied"`)
	require.Contains(t, body, "Run history")
	var name, manager string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT p.display_name, m.employee_id FROM people p JOIN people m ON m.id = p.manager_id
		WHERE p.employee_id = 'HR-NEW-1'`).Scan(&name, &manager))
	require.Equal(t, "Zoé Nouvelle", name, "Latin-1 read as such; the joiner is projected")
	require.Equal(t, known, manager)
	var cost string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT extra->>'costCenter' FROM people WHERE employee_id = 'HR-NEW-1'`).Scan(&cost))
	require.Equal(t, "CC-42", cost, "the mapped column flows into the added attribute")
}
