package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

type component interface {
	Render(context.Context, io.Writer) error
}

func render(w http.ResponseWriter, r *http.Request, c component) {
	renderStatus(w, r, http.StatusOK, c)
}

func renderStatus(w http.ResponseWriter, r *http.Request, status int, c component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		slog.Default().Warn("render", "path", r.URL.Path, "err", err)
	}
}

// isFragment reports whether htmx asked only for the #results region.
func isFragment(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Target") == "results" &&
		r.Header.Get("HX-History-Restore-Request") != "true"
}

func offsetParam(r *http.Request) int {
	n, _ := strconv.Atoi(input(r).Get("offset"))
	return n
}

func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	prof, err := s.People.FindProfile(r.Context(), v.PersonID)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	prof.Redact(v)
	nudge, err := s.methodsNudge(r)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	render(w, r, view.Home(s.page(r, tr(r, "Home"), "home"), prof, nudge))
}

func (s *Server) handlePeople(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	q := input(r).Get("q")
	res, err := s.People.SearchPeople(r.Context(), portal.PersonFilter{Query: q, Offset: offsetParam(r)})
	errMsg, status, ok := s.searchOutcome(w, r, err)
	if !ok {
		return
	}
	for i := range res.Items {
		res.Items[i] = res.Items[i].Redact(v)
	}
	p := s.page(r, tr(r, "People"), "people")
	if isFragment(r) {
		renderStatus(w, r, status, view.PeopleResults(p, q, res, errMsg))
		return
	}
	renderStatus(w, r, status, view.PeopleSearch(p, q, res, errMsg))
}

func (s *Server) handleProfile(w http.ResponseWriter, r *http.Request) {
	prof, err := s.People.FindProfile(r.Context(), chi.URLParam(r, "id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	prof.Redact(viewer(r))
	render(w, r, view.Profile(s.page(r, portal.Isolate(prof.Person.DisplayName), "people"), prof))
}

// handleOrgChart draws the org chart around a person: /org opens at the
// viewer, /org/{id} at anyone; ?q= lists the people matching a search, each
// a link to their chart.
func (s *Server) handleOrgChart(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	id := chi.URLParam(r, "id")
	if id == "" {
		id = v.PersonID
	}
	p := s.page(r, tr(r, "Org chart"), "org")
	q := input(r).Get("q")
	var found portal.Page[portal.Person]
	var errMsg string
	status := http.StatusOK
	if q != "" {
		var err error
		found, err = s.People.SearchPeople(r.Context(), portal.PersonFilter{Query: q, Offset: offsetParam(r)})
		var ok bool
		if errMsg, status, ok = s.searchOutcome(w, r, err); !ok {
			return
		}
		for i := range found.Items {
			found.Items[i] = found.Items[i].Redact(v)
		}
	}
	tree, err := s.People.FindOrgTree(r.Context(), id)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if chi.URLParam(r, "id") != "" {
		p.Title = portal.Isolate(tree.Focus.DisplayName) + " in the org chart"
	}
	renderStatus(w, r, status, view.OrgChart(p, tree, q, found, errMsg))
}

func (s *Server) handleGroups(w http.ResponseWriter, r *http.Request) {
	q := input(r).Get("q")
	res, err := s.Groups.SearchGroups(r.Context(), portal.GroupFilter{Query: q, Offset: offsetParam(r)})
	errMsg, status, ok := s.searchOutcome(w, r, err)
	if !ok {
		return
	}
	if isFragment(r) {
		renderStatus(w, r, status, view.GroupResults(q, res, errMsg))
		return
	}
	renderStatus(w, r, status, view.GroupSearch(s.page(r, tr(r, "Groups"), "groups"), q, res, errMsg))
}

// searchOutcome turns a search's error into the message shown in place of
// results and the status to answer with; ok is false when it rendered an
// error page instead (anything but invalid input).
func (s *Server) searchOutcome(w http.ResponseWriter, r *http.Request, err error) (msg string, status int, ok bool) {
	switch {
	case err == nil:
		return "", http.StatusOK, true
	case portal.ErrorCode(err) != portal.EINVALID:
		s.Error(w, r, err)
		return "", 0, false
	case isFragment(r):
		// htmx swaps only 2xx answers; the message is the content.
		return errText(r, err), http.StatusOK, true
	}
	return errText(r, err), http.StatusBadRequest, true
}
