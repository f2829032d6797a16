package web

import (
	"net/http"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

var codeStatus = map[string]int{
	portal.ECONFLICT:       http.StatusConflict,
	portal.EINVALID:        http.StatusBadRequest,
	portal.ENOTFOUND:       http.StatusNotFound,
	portal.EUNAUTHORIZED:   http.StatusUnauthorized,
	portal.EFORBIDDEN:      http.StatusForbidden,
	portal.ETOOMANYREQUEST: http.StatusTooManyRequests,
	portal.EINTERNAL:       http.StatusInternalServerError,
}

var codeTitle = map[string]string{
	portal.ECONFLICT:       "Conflict",
	portal.EINVALID:        "That did not work",
	portal.ENOTFOUND:       "Not found",
	portal.EUNAUTHORIZED:   "Please sign in",
	portal.EFORBIDDEN:      "Not allowed",
	portal.ETOOMANYREQUEST: "Too many attempts",
	portal.EINTERNAL:       "Something went wrong",
}

// Error renders err as an error page (or a fragment for htmx) with the
// status its code maps to; only internal errors are logged in full.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code := portal.ErrorCode(err)
	status := codeStatus[code]
	if code == portal.EINTERNAL {
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "client", s.clientAddr(r), "err", err)
	}
	s.renderError(w, r, status, codeTitle[code], portal.ErrorMessage(err))
}

// renderError shows the error page (or fragment) with title and message.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	renderStatus(w, r, status, view.ErrorPage(s.page(r, title, ""), status, message))
}
