package web

import (
	"bytes"
	"encoding/csv"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/web/view"
)

// Access reviews: administrators start and end them (Administration →
// Access reviews); the groups' owners, or the members' managers, keep or
// remove each membership on /reviews.

func (s *Server) reviews(w http.ResponseWriter, r *http.Request) bool {
	if s.Reviews == nil {
		s.Error(w, r, errors.New("web: access reviews are not configured"))
		return false
	}
	return true
}

func (s *Server) handleReviews(w http.ResponseWriter, r *http.Request) {
	if !s.reviews(w, r) {
		return
	}
	list, err := s.Reviews.ListReviews(r.Context(), viewer(r))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	render(w, r, view.MyReviews(s.page(r, tr(r, "Access reviews"), "approvals"), list))
}

func (s *Server) renderReview(w http.ResponseWriter, r *http.Request, status int, id string, v view.ReviewView) {
	var err error
	if v.Review, v.Items, err = s.Reviews.FindReview(r.Context(), viewer(r), id); err != nil {
		s.Error(w, r, err)
		return
	}
	renderStatus(w, r, status, view.Review(s.page(r, portal.Isolate(v.Review.Name), "approvals"), v))
}

func (s *Server) handleReview(w http.ResponseWriter, r *http.Request) {
	if !s.reviews(w, r) {
		return
	}
	s.renderReview(w, r, http.StatusOK, chi.URLParam(r, "id"), view.ReviewView{Notice: notice(r) + adminNotice(r)})
}

// handleExportReview downloads the memberships of a review the viewer
// reviews (every one for an administrator) as CSV, with each decision, who
// made it and when, its reason and its removal request: the record an
// auditor asks for. Cells that a spreadsheet would read as a formula are
// written as text.
func (s *Server) handleExportReview(w http.ResponseWriter, r *http.Request) {
	if !s.reviews(w, r) {
		return
	}
	rev, items, err := s.Reviews.ExportReview(r.Context(), viewer(r), chi.URLParam(r, "id"))
	if err != nil {
		s.Error(w, r, err)
		return
	}
	p := i18n.FromContext(r.Context())
	zone := portal.ZoneOrUTC(viewer(r).TimeZone)
	var b bytes.Buffer
	c := csv.NewWriter(&b)
	rows := [][]string{{p.T("Group"), p.T("Member"), p.T("Title"), p.T("Department"), p.T("Decision"), p.T("Decided by"),
		p.T("Decided at"), p.T("Reason"), p.T("Removal request")}}
	for _, it := range items {
		by, at := it.DecidedByName, ""
		if it.Decision != "" && by == "" {
			by = p.T("the review's default")
		}
		if it.DecidedAt != nil {
			at = it.DecidedAt.In(zone).Format(time.RFC3339)
		}
		request := ""
		if it.RequestID != "" {
			request = strings.TrimSuffix(s.Config.BaseURL, "/") + "/requests/" + it.RequestID
		}
		rows = append(rows, []string{it.GroupName, it.PersonName, it.PersonTitle, it.Department, p.T(it.Decision.Label()), by, at,
			it.Reason, request})
	}
	for _, row := range rows {
		for i, cell := range row {
			row[i] = csvText(cell)
		}
		if err := c.Write(row); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	if c.Flush(); c.Error() != nil {
		s.Error(w, r, c.Error())
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="access-review-`+rev.ID+`.csv"`)
	_, _ = w.Write(b.Bytes())
}

// csvText keeps a cell a spreadsheet would run as a formula (=, +, -, @,
// a tab or a carriage return first) as text, as OWASP advises.
func csvText(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// handleDecideReview records one decision on the memberships ticked (each
// "groupID:personID").
func (s *Server) handleDecideReview(w http.ResponseWriter, r *http.Request) {
	if !s.reviews(w, r) {
		return
	}
	id := chi.URLParam(r, "id")
	var keys []portal.ReviewKey
	for _, it := range input(r)["item"] {
		g, p, ok := strings.Cut(it, ":")
		if !ok {
			s.Error(w, r, portal.Errorf(portal.EINVALID, "That is not a membership of this review."))
			return
		}
		keys = append(keys, portal.ReviewKey{GroupID: g, PersonID: p})
	}
	_, err := s.Reviews.DecideReview(r.Context(), viewer(r), id, keys, portal.ReviewDecision(input(r).Get("decision")), input(r).Get("reason"))
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL || portal.ErrorCode(err) == portal.ENOTFOUND {
			s.Error(w, r, err)
			return
		}
		s.renderReview(w, r, codeStatus[portal.ErrorCode(err)], id, view.ReviewView{Error: errText(r, err)})
		return
	}
	http.Redirect(w, r, "/reviews/"+id+"?notice=reviewed", http.StatusSeeOther)
}

// reviewRoutes mounts Administration → Access reviews.
func (a *adminPages) reviewRoutes(r chi.Router) {
	r.Get("/reviews", a.handleAdminReviews)
	r.Post("/reviews", a.handleStartReview)
	r.Post("/reviews/{id}/complete", a.handleCompleteReview)
}

func (a *adminPages) renderAdminReviews(w http.ResponseWriter, r *http.Request, status int, f view.ReviewForm) {
	if !a.reviews(w, r) {
		return
	}
	list, err := a.Reviews.ListReviews(r.Context(), viewer(r))
	if err != nil {
		a.Error(w, r, err)
		return
	}
	if a.store != nil {
		if f.Sets, err = a.store.ListSets(r.Context()); err != nil {
			a.Error(w, r, err)
			return
		}
	}
	renderStatus(w, r, status, view.AdminReviews(a.page(r, tr(r, "Access reviews"), "admin-reviews"), list, f))
}

func (a *adminPages) handleAdminReviews(w http.ResponseWriter, r *http.Request) {
	a.renderAdminReviews(w, r, http.StatusOK, view.ReviewForm{Notice: adminNotice(r), Reviewers: string(portal.ReviewByOwners),
		Default: string(portal.ReviewRemove), Deadline: time.Now().AddDate(0, 0, 14).Format(time.DateOnly),
		SetScope: string(portal.ReviewSetOwned)})
}

func (a *adminPages) handleStartReview(w http.ResponseWriter, r *http.Request) {
	if !a.reviews(w, r) {
		return
	}
	in := input(r)
	f := view.ReviewForm{Name: in.Get("name"), Group: in.Get("group"), Search: in.Get("q"), Reviewers: in.Get("reviewers"),
		Default: in.Get("decision"), Deadline: in.Get("until"), Repeat: in.Get("repeat_months"), Set: in.Get("review_set"),
		SetScope: in.Get("set_scope")}
	fail := func(err error) {
		if !formFailed(err) {
			a.Error(w, r, err)
			return
		}
		f.Error = errText(r, err)
		a.renderAdminReviews(w, r, codeStatus[portal.ErrorCode(err)], f)
	}
	n := portal.NewAccessReview{Name: f.Name, Group: f.Group, Query: f.Search, Reviewers: portal.ReviewerSource(f.Reviewers),
		Default: portal.ReviewDecision(f.Default), Set: f.Set}
	if f.Set != "" {
		n.SetScope = portal.ReviewSetScope(f.SetScope)
	}
	day, err := portal.ParseDate(f.Deadline)
	if err != nil {
		fail(err)
		return
	}
	// The deadline is the end of the day in the administrator's zone.
	n.Deadline = day.End(portal.ZoneOrUTC(viewer(r).TimeZone))
	if n.RepeatMonths, err = number(f.Repeat, portal.Textf("The repeat")); err != nil {
		fail(err)
		return
	}
	rev, err := a.Reviews.StartReview(r.Context(), viewer(r), n)
	if err != nil {
		fail(err)
		return
	}
	http.Redirect(w, r, "/reviews/"+rev.ID+"?notice=review-started", http.StatusSeeOther)
}

func (a *adminPages) handleCompleteReview(w http.ResponseWriter, r *http.Request) {
	if !a.reviews(w, r) {
		return
	}
	id := chi.URLParam(r, "id")
	if err := a.Reviews.CompleteReview(r.Context(), viewer(r), id); err != nil {
		if portal.ErrorCode(err) == portal.ECONFLICT {
			a.renderReview(w, r, http.StatusConflict, id, view.ReviewView{Error: errText(r, err)})
			return
		}
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/reviews/"+id+"?notice=review-completed", http.StatusSeeOther)
}
