package web

import (
	"net/http"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

// handleTimeZone shows the form that sets the zone every time is shown in.
func (s *Server) handleTimeZone(w http.ResponseWriter, r *http.Request) {
	v := viewer(r)
	s.renderTimeZone(w, r, http.StatusOK, v.TimeZone, "", input(r).Get("saved") == "1")
}

func (s *Server) renderTimeZone(w http.ResponseWriter, r *http.Request, status int, zone, errMsg string, saved bool) {
	renderStatus(w, r, status, view.TimeZoneEdit(s.page(r, tr(r, "Time zone"), "home"), zone, errMsg, saved))
}

// handleSetTimeZone stores the viewer's time zone. app.js posts the
// browser's zone with learned=1 on a person's first visit (answered 204,
// and never over a zone the person chose); the form posts a chosen one.
func (s *Server) handleSetTimeZone(w http.ResponseWriter, r *http.Request) {
	in := input(r)
	zone, learned := in.Get("time_zone"), in.Get("learned") == "1"
	err := s.People.SetTimeZone(r.Context(), viewer(r), zone, learned)
	switch {
	case err == nil && learned:
		w.WriteHeader(http.StatusNoContent)
	case err == nil:
		http.Redirect(w, r, "/settings/time-zone?saved=1", http.StatusSeeOther)
	case portal.ErrorCode(err) == portal.EINVALID && !learned:
		s.renderTimeZone(w, r, http.StatusBadRequest, zone, errText(r, err), false)
	default:
		s.Error(w, r, err)
	}
}
