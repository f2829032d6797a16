package web

import (
	"net/http"
	"time"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

func (s *Server) signInForm(r *http.Request) view.SignInForm {
	f := view.SignInForm{Next: safeNext(r.FormValue("next"))}
	if f.Next == "/" {
		f.Next = ""
	}
	if s.oidc != nil {
		f.OIDCName = s.Config.OIDC.Name
	}
	f.Directory = s.Directory != nil
	return f
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, f view.SignInForm) {
	renderStatus(w, r, status, view.SignIn(s.page(r, "Sign in", ""), f))
}

func (s *Server) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	if sessionFrom(r) != nil {
		http.Redirect(w, r, safeNext(r.FormValue("next")), http.StatusSeeOther)
		return
	}
	f := s.signInForm(r)
	if f.Next != "" {
		f.Notice = "Please sign in to continue."
	} else if r.FormValue("signedout") != "" {
		f.Notice = "You have signed out."
	}
	s.renderSignIn(w, r, http.StatusOK, f)
}

func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	f := s.signInForm(r)
	f.Account = r.PostFormValue("account")
	keys := s.signInKeys(r, f.Account)
	if s.refuseSignIn(w, r, keys) {
		return
	}
	personID, err := s.Auth.CheckPassword(r.Context(), f.Account, r.PostFormValue("password"))
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		s.limiter.fail(time.Now(), keys...)
		f.Error = portal.ErrorMessage(err)
		s.renderSignIn(w, r, http.StatusUnauthorized, f)
		return
	}
	s.startSession(w, r, personID, "local", f.Next)
}

// startSession replaces any session cookie with a new session's (so a
// session fixed before sign-in is never reused) and goes to next.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, personID, method, next string) {
	if old := s.cookie(r, "tessera_session"); old != "" {
		s.Auth.DeleteSession(r.Context(), old) //nolint:errcheck
	}
	token, err := s.Auth.CreateSession(r.Context(), personID, method)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	s.setCookie(w, "tessera_session", token, 0)
	s.Logger.Info("signed in", "person", personID, "method", method, "client", s.clientAddr(r))
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	if token := s.cookie(r, "tessera_session"); token != "" {
		if err := s.Auth.DeleteSession(r.Context(), token); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	s.setCookie(w, "tessera_session", "", -1)
	// A fresh GET gives the sign-in form an anonymous CSRF token.
	http.Redirect(w, r, "/signin?signedout=1", http.StatusSeeOther)
}
