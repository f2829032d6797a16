package web_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// TestAdministratorEditsSomeonesAttributes: from a person's page an
// administrator edits their attributes, core and extra (one the person may
// not edit), each a request under policy; helpdesk sees the editor but
// needs a policy of its own; an end user is refused the page; a person
// created by hand is given extra attributes too.
func TestAdministratorEditsSomeonesAttributes(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	ctx := context.Background()
	admin := tb.viewer(t, "ada")
	require.NoError(t, tb.db.AddAttribute(ctx, admin, portal.Attribute{Name: "costCentre", Label: "Cost centre",
		Type: portal.TypeString, MaxLen: 8, Visibility: portal.VisibleToHelpdesk}))
	require.NoError(t, tb.db.AddAttribute(ctx, admin, portal.Attribute{Name: "skills", Label: "Skills",
		Type: portal.TypeStrings, MaxLen: 20}))
	zoe := tb.viewer(t, "zoe").PersonID

	ada := tb.client(t)
	ada.mustSignIn("ada")
	_, body := ada.get("/admin/people/" + zoe)
	require.Contains(t, body, `href="/people/`+zoe+`/edit"`)
	resp, body := ada.get("/people/" + zoe + "/edit")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `name="extra-costCentre"`)
	require.Contains(t, body, `name="extra-skills"`)
	require.Contains(t, body, `name="title"`)
	resp, body = ada.post("/people/"+zoe+"/edit", ada.form("extra-costCentre", "CC-042", "extra-skills", "Go", "extra-skills", "SQL",
		"title", "Auditor", "justification", "Reorganisation"))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, "Cost centre: changed.")
	require.Contains(t, body, "Skills: changed.")
	require.Contains(t, body, "Title: changed.")
	var cc, skills, title string
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT extra->>'costCentre', extra->>'skills', title FROM people WHERE id = $1`, zoe).
		Scan(&cc, &skills, &title))
	require.Equal(t, []string{"CC-042", "Go\nSQL", "Auditor"}, []string{cc, skills, title})
	// Too long for the attribute: refused, said next to it.
	_, body = ada.post("/people/"+zoe+"/edit", ada.form("extra-costCentre", "CC-0420000"))
	require.Contains(t, body, "Cost centre: ")
	require.NotContains(t, body, "Cost centre: changed.")

	// Helpdesk opens the editor; no policy grants it the cost centre yet.
	desk := tb.client(t)
	desk.mustSignIn("siobhan")
	resp, body = desk.get("/people/" + zoe + "/edit")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, body, `name="extra-costCentre"`)
	_, body = desk.post("/people/"+zoe+"/edit", desk.form("extra-costCentre", "CC-7"))
	require.Contains(t, body, "Cost centre: No policy lets you change")
	_, err := tb.db.CreatePolicy(ctx, admin, portal.Policy{Name: "Helpdesk sets cost centres", Enabled: true,
		Operation: portal.OpUpdatePerson, Requestor: portal.RequestorHelpdesk, Attributes: []string{"costCentre"}})
	require.NoError(t, err)
	_, body = desk.post("/people/"+zoe+"/edit", desk.form("extra-costCentre", "CC-7"))
	require.Contains(t, body, "Cost centre: changed.")

	// An end user is refused someone else's editor.
	user := tb.client(t)
	user.mustSignIn("zoe")
	resp, _ = user.get("/people/" + admin.PersonID + "/edit")
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	// Created by hand with extra attributes.
	_, body = ada.get("/admin/people/new")
	require.Contains(t, body, `name="extra-costCentre"`)
	resp, _ = ada.post("/admin/people/new", ada.form("accountName", "ctractor", "displayName", "Con Tractor",
		"extra-costCentre", "CC-9", "extra-skills", "Welding"))
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.NoError(t, tb.db.Pool.QueryRow(ctx, `SELECT extra->>'costCentre', extra->>'skills' FROM people WHERE account_name = 'ctractor'`).
		Scan(&cc, &skills))
	require.Equal(t, []string{"CC-9", "Welding"}, []string{cc, skills})
	resp, body = ada.post("/admin/people/new", ada.form("accountName", "ctractor2", "displayName", "Con Tractor",
		"extra-costCentre", "much too long"))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Cost centre")
}
