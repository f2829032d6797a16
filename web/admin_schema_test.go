package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestSchemaPageAndProfileEdit: an administrator adds attributes people
// may ask to change (the form needs its CSRF token); a person's profile
// editor offers them as their types are typed, and a policy that covers
// them applies the change; the profile shows the values.
func TestSchemaPageAndProfileEdit(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	ada := tb.client(t)
	ada.mustSignIn("ada")
	add := url.Values{"name": {"languages"}, "label": {"Languages"}, "attr_type": {"strings"}, "max_len": {"30"},
		"visibility": {"everyone"}, "editable": {"on"}}
	resp, _ := ada.post("/admin/schema", add)
	require.Equal(t, http.StatusForbidden, resp.StatusCode, "without the CSRF token")
	add.Set("csrf", ada.csrf)
	resp, _ = ada.post("/admin/schema", add)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/admin/schema?notice=attribute-added", resp.Header.Get("Location"))
	_, body := ada.get("/admin/schema")
	require.Contains(t, body, "Text, several values")
	resp, body = ada.post("/admin/schema", ada.form("name", "deskNumber", "label", "Desk", "attr_type", "int",
		"min", "1", "max", "ten", "visibility", "self", "editable", "on"))
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, body, "The largest value is a whole number")
	require.Contains(t, body, `value="deskNumber"`, "the form keeps what was typed")
	resp, _ = ada.post("/admin/schema", ada.form("name", "deskNumber", "label", "Desk", "attr_type", "int",
		"min", "1", "max", "500", "visibility", "self", "editable", "on"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = ada.post("/admin/schema", ada.form("name", "mentor", "label", "Mentor", "attr_type", "reference",
		"visibility", "everyone", "editable", "on"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, err := tb.db.CreatePolicy(ctx, tb.viewer(t, "ada"), portal.Policy{Name: "Own languages and desk", Enabled: true,
		Operation: portal.OpUpdatePerson, Requestor: portal.RequestorSelf, Attributes: []string{"languages", "deskNumber", "mentor"}})
	require.NoError(t, err)

	zoe := tb.client(t)
	zoe.mustSignIn("zoe")
	_, body = zoe.get("/profile/edit")
	require.Contains(t, body, `name="extra-languages"`)
	require.Contains(t, body, `name="extra-deskNumber" type="number" value="" max="500" min="1"`)
	resp, body = zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "extra-languages": {"Irish", "", "Portuguese"},
		"extra-deskNumber": {"12"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Languages: changed.")
	require.Contains(t, body, "Desk: changed.")
	_, body = zoe.get("/people/" + tb.viewer(t, "zoe").PersonID)
	require.Contains(t, body, "<li>Irish</li><li>Portuguese</li>")
	require.Contains(t, body, `data-testid="private-attrs"`, "her desk is for her, the helpdesk and administrators")

	// A reference: typed as an account name, asked for by ID, shown by name.
	resp, body = zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "extra-mentor": {"nobody-at-all"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Mentor: No one has the account name or email")
	resp, body = zoe.post("/profile/edit", url.Values{"csrf": {zoe.csrf}, "extra-mentor": {"mateo"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Mentor: changed.")
	var mateoName string
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT display_name FROM people WHERE account_name = 'mateo'`).Scan(&mateoName))
	mateoName = html.EscapeString(mateoName)
	require.Contains(t, body, `name="extra-mentor" type="text" maxlength="256" value="`+mateoName+`"`, "the field names the mentor")
	var mentorRequest string
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT id::text FROM requests WHERE person_id = $1 AND changes ? 'mentor'`,
		tb.viewer(t, "zoe").PersonID).Scan(&mentorRequest))
	_, body = zoe.get("/requests/" + mentorRequest)
	require.Contains(t, body, `data-testid="change-mentor">`+mateoName+`<`, "the request names the person, not their ID")

	mateo := tb.client(t)
	mateo.mustSignIn("mateo")
	_, body = mateo.get("/people/" + tb.viewer(t, "zoe").PersonID)
	require.Contains(t, body, "Portuguese")
	require.NotContains(t, body, `data-testid="attr-deskNumber"`, "not for a colleague's eyes")
}

// TestSchemaRefusesReservedName: an attribute named endDate clashed with
// the create-by-hand form's last day; it is refused with the reason, and
// the form keeps what was typed.
func TestSchemaRefusesReservedName(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ada := tb.client(t)
	ada.mustSignIn("ada")
	resp, body := ada.post("/admin/schema", ada.form("name", "endDate", "label", "Contract end", "attr_type", "date",
		"visibility", "everyone"))
	require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
	require.Contains(t, html.UnescapeString(body), `"endDate" is a name Tessera keeps for a person's last day; choose another name.`)
	require.Contains(t, body, `value="Contract end"`)
}
