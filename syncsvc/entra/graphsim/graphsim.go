// Package graphsim is a Microsoft Graph simulator: a test and demo tool,
// never a stand-in for a real tenant. It serves the part of Graph v1.0
// and of the Microsoft identity platform's token endpoint that Tessera's
// Entra ID connector uses (users, security groups, members, soft-deleted
// users, delta queries, JSON batching, throttling), answering with the
// status codes, error codes and messages that Microsoft documents
// (/work/shared/reference/microsoft-graph.md gathers them). Tests run the
// connector against it, and `tessera dev` (make run) starts one beside the
// demo AD; `tessera serve` never does.
package graphsim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config is a simulated tenant.
type Config struct {
	TenantID     string
	ClientID     string
	ClientSecret string
	// InitialDomain is the tenant's contoso.onmicrosoft.com domain; it is
	// verified too. VerifiedDomains are the others.
	InitialDomain   string
	VerifiedDomains []string
	// WriteBudget writes are allowed per WriteWindow per app and tenant;
	// past it writes are answered 429 with Retry-After. Zero: Graph's
	// 3,000 writes per 2 min 30 s. A negative budget turns throttling off.
	WriteBudget int
	WriteWindow time.Duration
	// PageSize is the page size of lists and delta rounds; 0: 100.
	PageSize int
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// OnRequest, when set, is called as each Graph request (a batch's
	// items one by one) arrives, before it is answered.
	OnRequest func(method, path string, header http.Header)
}

// Stats count what the simulator answered.
type Stats struct {
	Requests      int // Graph requests, a batch's items each counted, the envelope not
	Writes        int // writes accepted (POST, PATCH, DELETE items)
	Throttled     int // answered 429
	Batches       int
	TokensIssued  int
	HighPriority  int // requests that carried x-ms-throttle-priority: high
	FirstWrite    time.Time
	LastWrite     time.Time
	ThrottledBody int // 429s inside batches
	// EarlyRetries are writes (or batches) that arrived before the
	// Retry-After of an earlier 429 had passed: a client that honours
	// Retry-After sends none.
	EarlyRetries int
}

// Server is one simulated tenant. It is safe for concurrent use.
type Server struct {
	cfg Config

	mu         sync.Mutex
	users      map[string]*object // by id, live and soft-deleted
	byUPN      map[string]*object // live users by lower-case userPrincipalName
	byImmID    map[string]*object // live users by onPremisesImmutableId
	deleted    map[string]*object // soft-deleted users by id
	groups     map[string]*object
	tombstones []tombstone // objects gone for good, for delta
	seq        int64       // change counter, for delta
	generation int         // bumped by ExpireDeltaTokens
	tokens     map[string]time.Time
	writes     []time.Time // accepted writes inside the window
	retryAt    time.Time   // the latest Retry-After told, as a time
	stats      Stats
}

// object is a user or a group.
type object struct {
	id        string
	props     map[string]any
	seq       int64      // last change
	created   int64      // the change that created it
	history   []int64    // every change, ascending: delta rounds read it
	deletedAt *time.Time // a soft-deleted user
	// members of a group, with the change sequence of each add or
	// remove, for members@delta.
	members map[string]memberState
	// password is kept only so that tests can see it was set.
	password string
	// restoreGroups are the groups a deleted user was a member of.
	restoreGroups []string
	// indexed are the keys a user is indexed under (index).
	indexedUPN, indexedImmID string
}

type memberState struct {
	present bool
	seq     int64
}

type tombstone struct {
	kind string // users, groups
	id   string
	seq  int64
}

// New returns a simulated tenant with no objects.
func New(cfg Config) *Server {
	if cfg.WriteBudget == 0 {
		cfg.WriteBudget = 3000
	}
	if cfg.WriteWindow == 0 {
		cfg.WriteWindow = 150 * time.Second
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 100
	}
	if cfg.InitialDomain == "" {
		cfg.InitialDomain = "contoso.onmicrosoft.com"
	}
	return &Server{cfg: cfg, users: map[string]*object{}, groups: map[string]*object{}, tokens: map[string]time.Time{},
		byUPN: map[string]*object{}, byImmID: map[string]*object{}, deleted: map[string]*object{}}
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}

// Stats returns the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// SetWriteBudget changes the write budget; a negative budget turns
// throttling off.
func (s *Server) SetWriteBudget(budget int, window time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.WriteBudget, s.cfg.WriteWindow = budget, window
	s.writes, s.retryAt = nil, time.Time{}
}

// ExpireDeltaTokens makes every delta and skip token issued so far expired,
// as seven days without a round would.
func (s *Server) ExpireDeltaTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.generation++
}

// ResetStats zeroes the counts.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{}
}

// domains lists the verified domains, the initial one first.
func (s *Server) domains() []string {
	return append([]string{s.cfg.InitialDomain}, s.cfg.VerifiedDomains...)
}

func (s *Server) verified(domain string) bool {
	return slices.ContainsFunc(s.domains(), func(d string) bool { return strings.EqualFold(d, domain) })
}

// newID makes an object or request id in a GUID's text form.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}

// Handler returns the simulator's HTTP handler: the token endpoint and
// OpenID configuration under /{tenant}/, Graph under /v1.0/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfiguration)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1.0/") {
			s.graph(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// mark records that o changed with change number seq.
func (o *object) mark(seq int64) {
	o.seq = seq
	o.history = append(o.history, seq)
}

// changedIn reports whether o changed within (from, to].
func (o *object) changedIn(from, to int64) bool {
	i, _ := slices.BinarySearch(o.history, from+1)
	return i < len(o.history) && o.history[i] <= to
}

// touch records a change of o.
func (s *Server) touch(o *object) {
	s.seq++
	if o.created == 0 {
		o.created = s.seq
	}
	o.mark(s.seq)
}

// index files a user under its UPN and immutable ID while it is live, and
// among the deleted while it is soft-deleted; called after every change.
func (s *Server) index(u *object) {
	if s.byUPN[u.indexedUPN] == u {
		delete(s.byUPN, u.indexedUPN)
	}
	if s.byImmID[u.indexedImmID] == u {
		delete(s.byImmID, u.indexedImmID)
	}
	u.indexedUPN, u.indexedImmID = "", ""
	delete(s.deleted, u.id)
	switch {
	case s.users[u.id] != u:
	case u.deletedAt != nil:
		s.deleted[u.id] = u
	default:
		u.indexedUPN = strings.ToLower(str(u.props["userPrincipalName"]))
		s.byUPN[u.indexedUPN] = u
		if imm := str(u.props["onPremisesImmutableId"]); imm != "" {
			u.indexedImmID = imm
			s.byImmID[imm] = u
		}
	}
}
