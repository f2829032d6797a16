package web

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tessera-idm/tessera/portal"
)

// contentSecurityPolicy allows only our own scripts and styles: no inline
// script, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		if s.Config.SecureCookies {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				s.Error(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		start := time.Now()
		next.ServeHTTP(ww, r)
		s.Logger.Debug("http", "method", r.Method, "path", r.URL.Path, "status", ww.Status(),
			"duration", time.Since(start), "client", s.clientAddr(r))
	})
}

// httpMetrics records request latency by route pattern (never by raw path,
// which would put IDs and search text into label values).
type httpMetrics struct {
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tessera_http_request_duration_seconds",
		Help:    "HTTP request latency by route, method and status code.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "method", "code"})}
	reg.MustRegister(m.duration)
	return m
}

func (m *httpMetrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		start := time.Now()
		next.ServeHTTP(ww, r)
		route := "unmatched"
		if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
			route = rc.RoutePattern()
		}
		m.duration.WithLabelValues(route, r.Method, strconv.Itoa(ww.Status())).Observe(time.Since(start).Seconds())
	})
}

// signInLimiter slows password guessing: each client address and each
// account name has a budget of failed sign-ins that refills slowly. It lives
// in this process; behind several web processes each keeps its own budget.
type signInLimiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

const (
	signInBurst = 10
	signInEvery = 6 * time.Second // 10 a minute once the burst is spent
)

func newSignInLimiter() *signInLimiter {
	return &signInLimiter{buckets: map[string]*bucket{}}
}

func (l *signInLimiter) bucket(key string, now time.Time) *bucket {
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Every(signInEvery), signInBurst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b
}

// blocked reports whether any of keys has no failures left.
func (l *signInLimiter) blocked(now time.Time, keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if l.bucket(k, now).lim.TokensAt(now) < 1 {
			return true
		}
	}
	return false
}

// fail spends one failure from each of keys.
func (l *signInLimiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		l.bucket(k, now).lim.AllowN(now, 1)
	}
}

// signInKeys names the budgets a sign-in attempt draws on.
func (s *Server) signInKeys(r *http.Request, account string) []string {
	keys := []string{"addr:" + s.clientAddr(r).String()}
	if account != "" {
		keys = append(keys, "account:"+strings.ToLower(account))
	}
	return keys
}

var errTooManySignIns = portal.Errorf(portal.ETOOMANYREQUEST, "Too many failed sign-in attempts. Wait a minute and try again.")

// refuseSignIn answers 429 when the attempt's budget is spent.
func (s *Server) refuseSignIn(w http.ResponseWriter, r *http.Request, keys []string) bool {
	if !s.limiter.blocked(time.Now(), keys...) {
		return false
	}
	w.Header().Set("Retry-After", "60")
	s.Error(w, r, errTooManySignIns)
	return true
}
