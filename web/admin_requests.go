package web

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/web/view"
)

// requestRoutes mounts Administration → Requests: every request, filtered,
// and one request's timeline with retry and cancel for a failed export.
func (a *adminPages) requestRoutes(r chi.Router) {
	r.Get("/requests", a.handleAdminRequests)
	r.Get("/requests/{id}", a.handleAdminRequest)
	r.Post("/requests/{id}/retry", a.handleRetryRequest)
	r.Post("/requests/{id}/cancel", a.handleCancelFailedRequest)
}

// requestNotices are the fixed messages a redirect may ask the page of a
// request to show.
var requestNotices = map[string]string{
	"retried":  i18n.Mark("The change is being sent to the connected systems again; this page follows it."),
	"canceled": i18n.Mark("The request was canceled; the reason is on its timeline and in the audit log."),
}

// noticeText is a fixed notice in the reader's language ("" for none).
func noticeText(r *http.Request, key string) string {
	if key == "" {
		return ""
	}
	return tr(r, key)
}

func (a *adminPages) handleAdminRequests(w http.ResponseWriter, r *http.Request) {
	in := input(r)
	f := portal.RequestFilter{Status: portal.RequestStatus(in.Get("status")), Kind: portal.Operation(in.Get("kind")),
		Requester: in.Get("requester"), Target: in.Get("target"), PolicyID: in.Get("policy"), Age: in.Get("age"), Offset: offsetParam(r)}
	res, err := a.Requests.SearchRequests(r.Context(), viewer(r), f)
	if err != nil {
		a.Error(w, r, err)
		return
	}
	policies, err := a.store.ListPolicies(r.Context())
	if err != nil {
		a.Error(w, r, err)
		return
	}
	if err := f.Normalize(); err != nil {
		a.Error(w, r, err) // SearchRequests accepted it: cannot happen
		return
	}
	render(w, r, view.AdminRequests(a.page(r, tr(r, "Requests"), "admin-requests"),
		view.AdminRequestsView{Requests: res, Filter: f, Policies: policies, Now: time.Now()}))
}

func (a *adminPages) renderAdminRequest(w http.ResponseWriter, r *http.Request, status int, errMsg, reason string) {
	v := viewer(r)
	d, err := a.Requests.FindRequestDetail(r.Context(), v, chi.URLParam(r, "id"))
	if err != nil {
		a.Error(w, r, err)
		return
	}
	rv := view.AdminRequestView{Request: view.RequestView{Detail: d, Now: time.Now(), Notice: noticeText(r, requestNotices[input(r).Get("notice")])},
		Error: errMsg, Reason: reason}
	if rv.Request.Changes, err = a.changeValues(r.Context(), d.Request.Changes); err != nil {
		a.Error(w, r, err)
		return
	}
	if rv.Request.Lists, err = a.listChanges(r.Context(), v, d); err != nil {
		a.Error(w, r, err)
		return
	}
	p := a.page(r, i18n.FromContext(r.Context()).Text(d.Request.SummaryText()), "admin-requests")
	if isFragment(r) {
		render(w, r, view.AdminRequestLive(p, rv))
		return
	}
	renderStatus(w, r, status, view.AdminRequestPage(p, rv))
}

func (a *adminPages) handleAdminRequest(w http.ResponseWriter, r *http.Request) {
	a.renderAdminRequest(w, r, http.StatusOK, "", "")
}

func (a *adminPages) handleRetryRequest(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := a.Requests.RetryRequest(r.Context(), viewer(r), id); err != nil {
		if formFailed(err) {
			a.renderAdminRequest(w, r, codeStatus[portal.ErrorCode(err)], errText(r, err), "")
			return
		}
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/requests/"+id+"?notice=retried", http.StatusSeeOther)
}

func (a *adminPages) handleCancelFailedRequest(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	reason := input(r).Get("reason")
	if err := a.Requests.CancelFailedRequest(r.Context(), viewer(r), id, reason); err != nil {
		if formFailed(err) {
			a.renderAdminRequest(w, r, codeStatus[portal.ErrorCode(err)], errText(r, err), reason)
			return
		}
		a.Error(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/requests/"+id+"?notice=canceled", http.StatusSeeOther)
}
