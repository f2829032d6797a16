package web

import (
	"net/http"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

// handleLanguage shows the form that chooses the language Tessera speaks to
// the viewer.
func (s *Server) handleLanguage(w http.ResponseWriter, r *http.Request) {
	s.renderLanguage(w, r, http.StatusOK, viewer(r).Language, "", input(r).Get("saved") == "1")
}

func (s *Server) renderLanguage(w http.ResponseWriter, r *http.Request, status int, chosen, errMsg string, saved bool) {
	renderStatus(w, r, status, view.LanguageEdit(s.page(r, tr(r, "Language"), "home"), chosen, errMsg, saved))
}

// handleSetLanguage stores the viewer's language ("" to follow the browser)
// and shows the form again, now in that language.
func (s *Server) handleSetLanguage(w http.ResponseWriter, r *http.Request) {
	code := input(r).Get("language")
	err := s.People.SetLanguage(r.Context(), viewer(r), code)
	switch {
	case err == nil:
		http.Redirect(w, r, "/settings/language?saved=1", http.StatusSeeOther)
	case portal.ErrorCode(err) == portal.EINVALID:
		s.renderLanguage(w, r, http.StatusBadRequest, viewer(r).Language, errText(r, err), false)
	default:
		s.Error(w, r, err)
	}
}
