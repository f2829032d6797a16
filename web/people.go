package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

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
	// What HR changed for the viewer's people that they decide on.
	var notices []portal.TeamNotice
	if s.HR != nil {
		if notices, err = s.HR.TeamNotices(r.Context(), v.PersonID, 10); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	render(w, r, view.Home(s.page(r, tr(r, "Home"), "home"), prof, nudge, notices))
}

func (s *Server) handlePeople(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	q := input(r).Get("q")
	pf, filters, err := s.peopleFilters(r)
	var res portal.Page[portal.Person]
	if err == nil {
		res, err = s.People.SearchPeople(r.Context(), portal.PersonFilter{Query: q, Filters: filters, Viewer: v, Offset: offsetParam(r)})
	}
	errMsg, status, ok := s.searchOutcome(w, r, err)
	if !ok {
		return
	}
	cols := pf.Columns()
	for i := range res.Items {
		// The extra attributes filtered by are shown: the viewer may
		// filter by them, so they may see them of everyone.
		extra := res.Items[i].Extra
		res.Items[i] = res.Items[i].Redact(v)
		res.Items[i].Extra = map[string]string{}
		for _, a := range cols {
			res.Items[i].Extra[a.Name] = extra[a.Name]
		}
	}
	p := s.page(r, tr(r, "People"), "people")
	if isFragment(r) {
		renderStatus(w, r, status, view.PeopleResults(p, q, res, errMsg, pf))
		return
	}
	renderStatus(w, r, status, view.PeopleSearch(p, q, res, errMsg, pf))
}

// peopleFilters reads the white pages' attribute filters: those the search
// keeps (filter=name=value) and the one the filter form adds. It returns
// them as the page shows them and as the search takes them (a reference's
// account name or email resolved to the person's ID). The schema is read
// only when a filter is in use or the form is open, so that a plain search
// costs nothing more. A filter the viewer may not use is refused by the
// search, as one that does not exist.
func (s *Server) peopleFilters(r *http.Request) (view.PeopleFilters, []portal.AttributeFilter, error) {
	in := input(r)
	pf := view.PeopleFilters{Open: in.Get("filters") == "open", Attr: in.Get("filter_attr"), Value: in.Get("filter_value")}
	params := in["filter"]
	adding := pf.Attr != "" && pf.Value != ""
	// The form sent stays open for the next filter (or to mend this one).
	pf.Open = pf.Open || pf.Attr != ""
	if adding {
		params = append(params, pf.Attr+"="+pf.Value)
	}
	if !pf.Open && len(params) == 0 {
		return pf, nil, nil
	}
	if len(params) > portal.MaxFilters {
		return pf, nil, portal.Errorf(portal.EINVALID, "Filter by at most %d attributes at once.", portal.MaxFilters)
	}
	schema, err := s.People.Schema(r.Context())
	if err != nil {
		return pf, nil, err
	}
	v := viewer(r)
	pf.Available = schema.FiltersFor(v)
	var filters []portal.AttributeFilter
	for i, p := range params {
		name, value, _ := strings.Cut(p, "=")
		f, err := s.peopleFilter(r, schema, name, value)
		if err != nil {
			// A filter being added that is refused stays in the form, to
			// be mended; the filters kept stay too.
			return pf, nil, err
		}
		if adding && i == len(params)-1 {
			pf.Attr, pf.Value = "", ""
		}
		a, _ := schema.Lookup(name)
		pf.Active = append(pf.Active, view.ActiveFilter{Attribute: *a, Value: value})
		filters = append(filters, f)
	}
	return pf, filters, nil
}

// peopleFilter checks one attribute filter as v may use it, a reference's
// account name or email resolved to the person's ID.
func (s *Server) peopleFilter(r *http.Request, schema *portal.Schema, name, value string) (portal.AttributeFilter, error) {
	f := portal.AttributeFilter{Name: name, Value: value}
	if a, ok := schema.Lookup(name); ok && a.Type == portal.TypeReference && strings.TrimSpace(value) != "" && a.FilterableBy(viewer(r)) {
		ref, err := s.People.FindPersonByName(r.Context(), value)
		if portal.ErrorCode(err) == portal.ENOTFOUND {
			return f, portal.Errorf(portal.EINVALID, "No one has the account name or email “%s”.", value)
		} else if err != nil {
			return f, err
		}
		f.Value = ref.ID
	}
	checked, err := schema.CheckFilters(viewer(r), []portal.AttributeFilter{f})
	if err != nil {
		return f, err
	}
	return checked[0], nil
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
