package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal/i18n"
)

var (
	invisible  = regexp.MustCompile(`(?is)<(script|style|template)\b.*?</(script|style|template)>`)
	readAloud  = regexp.MustCompile(`(?i)\b(?:aria-label|placeholder|title|alt)="([^"]*)"`)
	anyTag     = regexp.MustCompile(`(?s)<[^>]*>`)
	whitespace = regexp.MustCompile(`\s+`)
)

// pageText is what a person reads of a page, and what a screen reader
// reads aloud: its text and its labels, unescaped, on one line.
func pageText(body string) string {
	body = invisible.ReplaceAllString(body, " ")
	var labels []string
	for _, m := range readAloud.FindAllStringSubmatch(body, -1) {
		labels = append(labels, m[1])
	}
	text := anyTag.ReplaceAllString(body, " ") + " " + strings.Join(labels, " ")
	return whitespace.ReplaceAllString(html.UnescapeString(text), " ")
}

// requireAllGerman fails when a page is not German through: its language,
// and no text of the catalogue left in English.
func requireAllGerman(t *testing.T, what, body string) {
	t.Helper()
	require.Contains(t, body, `<html lang="de">`, what)
	if english := i18n.EnglishIn(pageText(body)); len(english) > 0 {
		t.Errorf("%s shows English: %q", what, english)
	}
}

// TestResetAndRefusalsGerman: a person whose browser asks for German goes
// through self-service password reset and reads every page German, the
// refusals too (a wrong code, a password the policy refuses, a form the
// domain refuses): the domain's errors are written from their format in
// the reader's language.
func TestResetAndRefusalsGerman(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb, _ := setupConnected(t, testSealer(t))
	german := []string{"Accept-Language", "de-DE,de;q=0.9"}
	siobhan, zoe := tb.viewer(t, "siobhan"), tb.viewer(t, "zoe")

	c := tb.client(t)
	_, body := c.get("/password/reset", "Accept-Language", "en")
	require.NotEmpty(t, i18n.EnglishIn(pageText(body)), "the check finds English on an English page")
	_, body = c.get("/password/reset", german...)
	requireAllGerman(t, "the reset's start", body)
	resp, _ := c.post("/password/reset", url.Values{"csrf": {c.csrf}, "account": {"zoe"}}, german...)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/password/reset/verify", german...)
	requireAllGerman(t, "the reset's code page", body)
	resp, body = c.post("/password/reset/verify", url.Values{"csrf": {c.csrf}, "code": {"123456"}}, german...)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "Dieser Code stimmt nicht")
	requireAllGerman(t, "a wrong code", body)

	code, _, err := tb.db.IssueRecoveryCode(ctx, siobhan, zoe.PersonID, "verified by phone")
	require.NoError(t, err)
	resp, _ = c.post("/password/reset/verify", url.Values{"csrf": {c.csrf}, "code": {code}}, german...)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, body = c.get("/password/reset/new", german...)
	requireAllGerman(t, "the new password's page", body)
	resp, body = c.post("/password/reset/new", url.Values{"csrf": {c.csrf}, "new_password": {"short"}, "confirm_password": {"short"}}, german...)
	require.NotEqual(t, http.StatusSeeOther, resp.StatusCode, "a password the policy refuses")
	requireAllGerman(t, "a refused password", body)

	// A form the domain refuses, with its values: a policy without a name.
	ada := tb.client(t)
	ada.mustSignIn("ada")
	resp, body = ada.post("/admin/policies", ada.form("name", "", "operation", "join_group"), german...)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, body, "Geben Sie einen Namen an (Richtlinie).")
	requireAllGerman(t, "a refused policy", body)
}
