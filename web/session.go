package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
	"github.com/tessera-idm/tessera/web/view"
)

type ctxKey int

const (
	sessionKey ctxKey = iota
	csrfKey
)

// Cookie names; with Secure cookies the __Host- prefix pins them to this host.
func (s *Server) cookieName(base string) string {
	if s.Config.SecureCookies {
		return "__Host-" + base
	}
	return base
}

func (s *Server) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.Config.SecureCookies, SameSite: http.SameSiteLaxMode})
}

func (s *Server) cookie(r *http.Request, name string) string {
	c, err := r.Cookie(s.cookieName(name))
	if err != nil {
		return ""
	}
	return c.Value
}

// loadSession puts the live session, if any, in the request context, and
// the language every text of the answer is written in: the person's
// choice, else the browser's (Accept-Language), else English.
func (s *Server) loadSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		accept := r.Header.Get("Accept-Language")
		w.Header().Add("Vary", "Accept-Language")
		r = r.WithContext(i18n.NewContext(r.Context(), i18n.Negotiate("", accept)))
		if token := s.cookie(r, "tessera_session"); token != "" {
			sess, err := s.Auth.FindSession(r.Context(), token, showsBadge(r))
			if err == nil {
				ctx := context.WithValue(r.Context(), sessionKey, sess)
				// Every time on the page is shown in the viewer's zone.
				ctx = i18n.NewContext(ctx, i18n.Negotiate(sess.Viewer.Language, accept).In(portal.ZoneOrUTC(sess.Viewer.TimeZone)))
				r = r.WithContext(ctx)
			} else if portal.ErrorCode(err) != portal.EUNAUTHORIZED {
				s.Error(w, r, err)
				return
			}
		}
		w.Header().Set("Content-Language", i18n.FromContext(r.Context()).Code())
		next.ServeHTTP(w, r)
	})
}

// showsBadge reports whether the answer to r is a page whose header shows
// the count of approvals waiting, read with the session. A form's POST is
// answered with a redirect but for a mistake in it: page counts them then.
func showsBadge(r *http.Request) bool {
	return r.Method == http.MethodGet || r.Method == http.MethodHead
}

// errText is err's message for the person who sent r, in their language.
func errText(r *http.Request, err error) string { return i18n.FromContext(r.Context()).Error(err) }

func sessionFrom(r *http.Request) *portal.Session {
	s, _ := r.Context().Value(sessionKey).(*portal.Session)
	return s
}

// requireSignIn sends people without a live session to the sign-in page,
// remembering the page they asked for.
func (s *Server) requireSignIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sessionFrom(r) != nil {
			next.ServeHTTP(w, r)
			return
		}
		target := "/signin"
		if r.Method == http.MethodGet && r.URL.RequestURI() != "/" {
			target += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		if r.Header.Get("HX-Request") == "true" {
			w.Header().Set("HX-Redirect", target)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	})
}

// csrf checks the token of every state-changing request. Signed-in people
// carry their session's token; anonymous forms (sign-in) use a random
// token in a cookie that the form must echo. Cross-origin requests are also
// refused by the browser-header check wrapped around this.
func (s *Server) csrf(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Error(w, r, portal.Errorf(portal.EFORBIDDEN, "This request came from another site and was refused."))
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string
		if sess := sessionFrom(r); sess != nil {
			token = sess.CSRFToken
		} else if token = s.cookie(r, "tessera_csrf"); token == "" {
			token = newToken()
			s.setCookie(w, "tessera_csrf", token, 0)
		}
		r = r.WithContext(context.WithValue(r.Context(), csrfKey, token))
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				got = input(r).Get("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				if strings.HasPrefix(r.URL.Path, "/signin") || r.URL.Path == "/signout" {
					// A stale sign-in or sign-out form: start again cleanly.
					http.Redirect(w, r, "/signin", http.StatusSeeOther)
					return
				}
				s.Error(w, r, portal.Errorf(portal.EFORBIDDEN, "This form has expired. Go back, reload the page and try again."))
				return
			}
		}
		next.ServeHTTP(w, r)
	}))
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// page returns the common page data for r.
func (s *Server) page(r *http.Request, title, nav string) view.Page {
	p := view.Page{Title: title, Nav: nav, Trimmed: trimmedNotice(r)}
	p.CSRF, _ = r.Context().Value(csrfKey).(string)
	if sess := sessionFrom(r); sess != nil {
		v := sess.Viewer
		p.Viewer = &v
		p.PendingApprovals = sess.PendingApprovals
		if p.PendingApprovals < 0 {
			// Counted now, after what the request did (a decision).
			n, err := s.Requests.CountMyApprovals(r.Context(), v)
			if err != nil {
				s.Logger.Error("count approvals for the header", "err", err)
				n = 0
			}
			p.PendingApprovals = n
		}
	}
	return p
}

// viewer returns the signed-in viewer; only call behind requireSignIn.
func viewer(r *http.Request) portal.Viewer {
	return sessionFrom(r).Viewer
}

// safeNext keeps a post-sign-in redirect on this site: a path, not a URL.
// Browsers drop tabs and newlines from a Location and read a backslash as a
// slash, so "/<TAB>/evil.example" or "/\\evil.example" would leave the site:
// any control character or backslash, raw or percent-encoded, refuses next,
// and what survives must parse as a bare path that does not start with
// "//". Anything else goes home.
func safeNext(next string) string {
	if next == "" || len(next) > 2000 || !plainPath(next) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" ||
		!strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") || !plainPath(u.Path) {
		return "/"
	}
	if u.Path == "/signin" || strings.HasPrefix(u.Path, "/signin/") || u.Path == "/signout" {
		return "/"
	}
	return next
}

// plainPath reports whether s is valid UTF-8 without control characters or
// backslashes.
func plainPath(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r == '\\' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// tr translates key into the language of the person who sent r (see
// i18n.Printer.T).
func tr(r *http.Request, key string, args ...any) string {
	return i18n.FromContext(r.Context()).T(key, args...)
}
