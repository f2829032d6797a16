package web

import (
	"net/http"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
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
	portal.ECONFLICT:       i18n.Mark("Conflict"),
	portal.EINVALID:        i18n.Mark("That did not work"),
	portal.ENOTFOUND:       i18n.Mark("Not found"),
	portal.EUNAUTHORIZED:   i18n.Mark("Please sign in"),
	portal.EFORBIDDEN:      i18n.Mark("Not allowed"),
	portal.ETOOMANYREQUEST: i18n.Mark("Too many attempts"),
	portal.EINTERNAL:       i18n.Mark("Something went wrong"),
}

// Error renders err as an error page (or a fragment for htmx) with the
// status its code maps to; only internal errors are logged in full.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code := portal.ErrorCode(err)
	status := codeStatus[code]
	if code == portal.EINTERNAL {
		s.Logger.Error("internal error", "method", r.Method, "path", r.URL.Path, "client", s.clientAddr(r), "err", err)
	}
	s.renderError(w, r, status, i18n.T(r.Context(), codeTitle[code]), errText(r, err))
}

// renderError shows the error page (or fragment) with title and message.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	renderStatus(w, r, status, view.ErrorPage(s.page(r, title, ""), status, message))
}
