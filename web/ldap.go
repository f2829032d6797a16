package web

import (
	"context"
	"net/http"
	"time"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// errDirectoryUnavailable answers when AD cannot be reached: not the
// person's fault, so it spends none of their failed sign-ins.
var errDirectoryUnavailable = portal.Errorf(portal.EINTERNAL, "The directory cannot be reached right now. Try again in a moment.")

// directoryMatchNames says in words which attribute a directory account is
// matched by, for the message when it matches no one.
var directoryMatchNames = map[string]string{
	"employee_id":  i18n.Mark("employee ID"),
	"account_name": i18n.Mark("account name (sAMAccountName)"),
	"email":        i18n.Mark("email address (mail)"),
	"upn":          i18n.Mark("user principal name"),
}

// handleDirectorySignIn signs in by binding to AD as the person (LDAP bind
// sign-in), then finds them in Tessera by Config.DirectoryMatch.
func (s *Server) handleDirectorySignIn(w http.ResponseWriter, r *http.Request) {
	if s.Directory == nil {
		s.Error(w, r, portal.Errorf(portal.ENOTFOUND, "Directory sign-in is not configured here."))
		return
	}
	f := s.signInForm(r)
	f.DirectoryAccount = input(r).Get("account")
	t := s.beginSignIn(w, r, "ldap", f.DirectoryAccount, &f)
	if t == nil {
		return
	}
	password := input(r).Get("password")
	if password == "" {
		// An empty password is an unauthenticated bind in LDAP, which
		// succeeds as no one: it never goes to the directory.
		s.failSignIn(w, r, t, f, portal.ErrBadCredentials)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	account, err := s.Directory.Authenticate(ctx, f.DirectoryAccount, password)
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Logger.Error("directory sign-in", "err", err)
			f.Error = errText(r, errDirectoryUnavailable)
			s.renderSignIn(w, r, http.StatusBadGateway, f)
			return
		}
		s.failSignIn(w, r, t, f, err)
		return
	}
	attr := s.directoryMatch()
	value := account.MatchValue(attr)
	if value == "" {
		s.Logger.Info("directory account lacks the match attribute", "account", account.UserPrincipalName, "attribute", attr)
		f.Error = tr(r, "Your directory account %s has no %s, which Tessera matches people by. Ask your administrator to add it.",
			accountLabel(account), tr(r, directoryMatchNames[attr]))
		s.renderSignIn(w, r, http.StatusForbidden, f)
		return
	}
	personID, err := s.Auth.FindPersonByAttribute(r.Context(), attr, value)
	if err != nil {
		if portal.ErrorCode(err) == portal.EINTERNAL {
			s.Error(w, r, err)
			return
		}
		s.Logger.Info("directory person not found", "account", account.UserPrincipalName, "attribute", attr)
		// The message names the value, so the administrator knows what to fix.
		f.Error = errText(r, err)
		s.renderSignIn(w, r, http.StatusForbidden, f)
		return
	}
	s.startSession(w, r, personID, "ldap", f.Next, "")
}

func (s *Server) directoryMatch() string {
	if s.Config.DirectoryMatch == "" {
		return "employee_id"
	}
	return s.Config.DirectoryMatch
}

func accountLabel(a portal.DirectoryAccount) string {
	if a.UserPrincipalName != "" {
		return a.UserPrincipalName
	}
	return a.SAMAccountName
}
