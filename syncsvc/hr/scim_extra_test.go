package hr_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// Extra attributes arrive over SCIM as they do in an HR file's columns:
// under Tessera's extension by name, under the enterprise extension by its
// own names (costCenter), or at the full path the source maps; each value
// is checked by its attribute's type, and a row with a value that does not
// fit, or with an attribute the source does not map, is refused with the
// operation's number and the reason.
func TestSCIMExtraAttributes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w := newHRWorld(t)
	pool, db, svc, admin := w.pool, w.db, w.svc, w.admin
	lo, hi := int64(1), int64(5)
	for _, a := range []portal.Attribute{
		{Name: "costCenter", Label: "Cost centre", Type: portal.TypeString, MaxLen: 10},
		{Name: "grade", Label: "Grade", Type: portal.TypeInt, Min: &lo, Max: &hi},
		{Name: "skills", Label: "Skills", Type: portal.TypeStrings},
		{Name: "remote", Label: "Remote", Type: portal.TypeBool},
		{Name: "vetted", Label: "Vetted on", Type: portal.TypeDate},
		{Name: "badge", Label: "Badge", Type: portal.TypeString},
		{Name: "buddy", Label: "Buddy", Type: portal.TypeReference},
	} {
		require.NoError(t, db.AddAttribute(ctx, admin, a))
	}
	cols := hr.DefaultColumns()
	cols["costCenter"], cols["grade"], cols["skills"], cols["remote"], cols["vetted"] = "CostCentre", "grade", "Skills", "remote", "vetted"
	cols["badge"] = "urn:example:params:scim:schemas:extension:acme:1.0:User:badgeNumber"
	cols["buddy"] = "buddy"
	id, err := svc.CreateSource(ctx, admin, "Workday", hr.Settings{Columns: cols})
	require.NoError(t, err)

	op := func(emp, ext string) string {
		return fmt.Sprintf(`{"method":"POST","bulkId":%q,"path":"/Users","data":{
			"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
				%q],
			"externalId":%q,"name":{"givenName":"Ext","familyName":%q},%s}}`, emp, hr.SchemaTessera, emp, emp, ext)
	}
	tessera := func(body string) string { return fmt.Sprintf(`%q:{%s}`, hr.SchemaTessera, body) }
	body := `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[` + strings.Join([]string{
		op("S1", tessera(`"grade":3,"Skills":["Go","SQL"],"remote":true,"vetted":"2026-01-02T00:00:00Z","buddy":{"value":"S9"}`)+
			`,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"costCenter":"CC-7"}`+
			`,"urn:example:params:scim:schemas:extension:acme:1.0:User":{"badgeNumber":"B-17"}`),
		op("S2", tessera(`"grade":"9"`)),
		op("S3", tessera(`"remote":"perhaps"`)),
		op("S4", tessera(`"nickname":"Bo"`)),
		op("S5", tessera(`"CostCentre":"CC-8","grade":"2"`)),
		op("S6", tessera(`"vetted":"soon"`)),
	}, ",") + `]}`
	u, err := svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: id, Source: "scim", Content: []byte(body), Apply: true})
	require.NoError(t, err)
	require.Equal(t, 2, u.Joiners, u.Refusals)
	var reasons []string
	for _, r := range u.Refusals {
		reasons = append(reasons, fmt.Sprintf("%d: %s", r.Line, r.Reason))
	}
	require.Equal(t, []string{
		"2: Grade must be between 1 and 5.",
		"3: Remote takes true or false.",
		"4: urn:ietf:params:scim:schemas:extension:tessera:1.0:user:nickname is not an attribute this HR source maps",
		"6: Vetted on takes a date written YYYY-MM-DD.",
	}, reasons)
	require.Len(t, w.queued, 1)
	require.NoError(t, svc.ApplyHRUpload(ctx, w.queued[0]))
	extra := func(emp string) map[string]string {
		t.Helper()
		var m map[string]string
		require.NoError(t, pool.QueryRow(ctx, "SELECT extra FROM people WHERE employee_id = $1", emp).Scan(&m))
		return m
	}
	require.Equal(t, map[string]string{"costCenter": "CC-7", "grade": "3", "skills": "Go\nSQL", "remote": "true",
		"vetted": "2026-01-02", "badge": "B-17"}, extra("S1"), "the buddy waits for S9")
	require.Equal(t, map[string]string{"costCenter": "CC-8", "grade": "2"}, extra("S5"))

	// A reference names the other person by employee ID: one HR has not
	// sent yet is resolved when they arrive, in a later request.
	w.queued = nil
	u, err = svc.Receive(ctx, portal.Viewer{}, hr.Incoming{SystemID: id, Source: "scim", Apply: true,
		Content: []byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[` + op("S9", `"title":"Buddy"`) + `]}`)})
	require.NoError(t, err)
	require.Equal(t, 1, u.Joiners, u.Refusals)
	require.NoError(t, svc.ApplyHRUpload(ctx, w.queued[0]))
	var s9 string
	require.NoError(t, pool.QueryRow(ctx, "SELECT id FROM people WHERE employee_id = 'S9'").Scan(&s9))
	require.Equal(t, s9, extra("S1")["buddy"], "resolved, though S1's manager (none) was resolved at once")
}
