package web

import (
	"context"
	"net/http"
	"time"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/web/view"
)

func (s *Server) signInForm(r *http.Request) view.SignInForm {
	f := view.SignInForm{Next: safeNext(input(r).Get("next"))}
	if f.Next == "/" {
		f.Next = ""
	}
	if s.oidc != nil {
		f.OIDCName = s.Config.OIDC.Name
	}
	f.Directory = s.Directory != nil
	f.Passkey = s.passkeysOn()
	f.StaffRelaxed = !s.Config.StaffSecondFactor
	return f
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, f view.SignInForm) {
	renderStatus(w, r, status, view.SignIn(s.page(r, tr(r, "Sign in"), ""), f))
}

func (s *Server) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	if sessionFrom(r) != nil {
		http.Redirect(w, r, safeNext(input(r).Get("next")), http.StatusSeeOther)
		return
	}
	f := s.signInForm(r)
	if f.Next != "" {
		f.Notice = tr(r, "Please sign in to continue.")
	} else if input(r).Get("signedout") != "" {
		f.Notice = tr(r, "You have signed out.")
	}
	s.renderSignIn(w, r, http.StatusOK, f)
}

func (s *Server) handleSignIn(w http.ResponseWriter, r *http.Request) {
	f := s.signInForm(r)
	f.Account = input(r).Get("account")
	t := s.beginSignIn(w, r, "local", f.Account, &f)
	if t == nil {
		return
	}
	personID, err := s.Auth.CheckPassword(r.Context(), f.Account, input(r).Get("password"))
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		s.failSignIn(w, r, t, f, err)
		return
	}
	s.startSession(w, r, personID, "local", f.Next, "")
}

// beginSignIn checks a password sign-in's budgets (see
// portal.SignInGuard), or answers the request itself (400, 429) and
// returns nil. Every path that checks a password starts here.
func (s *Server) beginSignIn(w http.ResponseWriter, r *http.Request, method, account string, f *view.SignInForm) *portal.SignInTicket {
	device, person := s.knownDevice(r, time.Now())
	a := portal.SignInAttempt{Method: method, Account: account, Address: s.clientAddr(r), Device: device, DevicePerson: person}
	t, err := s.Auth.BeginSignIn(r.Context(), a)
	switch portal.ErrorCode(err) {
	case "":
		return t
	case portal.ETOOMANYREQUEST:
		if t == nil {
			t = &portal.SignInTicket{Attempt: a}
		}
		s.Logger.Warn("sign-in refused: budget spent", "method", method, "account", account, "person", t.PersonID,
			"client", a.Address, "known_device", t.KnownDevice)
		w.Header().Set("Retry-After", "60")
		s.Error(w, r, err)
	case portal.EINVALID:
		// Not echoed: what cannot be typed cannot be shown back either.
		f.Account, f.DirectoryAccount = "", ""
		f.Error = errText(r, err)
		s.renderSignIn(w, r, http.StatusBadRequest, *f)
	default:
		s.Error(w, r, err)
	}
	return nil
}

// failSignIn records a wrong password (a try from each budget; logged and
// audited, never with the password) and shows the form again.
func (s *Server) failSignIn(w http.ResponseWriter, r *http.Request, t *portal.SignInTicket, f view.SignInForm, cause error) {
	s.Logger.Info("sign-in failed", "method", t.Attempt.Method, "account", t.Attempt.Account, "person", t.PersonID,
		"client", t.Attempt.Address, "known_device", t.KnownDevice)
	// Counted even when the client hangs up first: it learns nothing it
	// did not pay for.
	if err := s.Auth.FailSignIn(context.WithoutCancel(r.Context()), t); err != nil {
		s.Error(w, r, err)
		return
	}
	f.Error = errText(r, cause)
	s.renderSignIn(w, r, http.StatusUnauthorized, f)
}

// startSession replaces any session cookie with a new session's (so a
// session fixed before sign-in is never reused) and goes to next. second
// is the second factor the sign-in already gave ("oidc"), if any; a
// passkey sign-in records its own.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, personID, method, next, second string) {
	if old := s.cookie(r, "tessera_session"); old != "" {
		s.Auth.DeleteSession(r.Context(), old) //nolint:errcheck
	}
	var client string
	if a := s.clientAddr(r); a.IsValid() {
		client = a.String()
	}
	token, err := s.Auth.CreateSession(r.Context(), personID, method, client)
	if err != nil {
		s.Error(w, r, err)
		return
	}
	if second != "" {
		if err := s.Auth.SetSecondFactor(r.Context(), token, second); err != nil {
			s.Error(w, r, err)
			return
		}
	}
	s.setCookie(w, "tessera_session", token, 0)
	s.rememberDevice(w, r, personID, time.Now())
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
