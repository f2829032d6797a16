// Package entra is the Entra ID connector: it syncs users, security groups
// and memberships with a tenant over Microsoft Graph v1.0, through a small
// hand-written client (client credentials, Retry-After, JSON batching, a
// write governor) rather than the Graph SDK, which takes minutes and
// gigabytes to build for the dozen calls needed here.
package entra

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/tessera-idm/tessera/syncsvc"
)

// Defaults of a real tenant.
const (
	DefaultAuthority = "https://login.microsoftonline.com"
	DefaultGraphURL  = "https://graph.microsoft.com/v1.0"
	// Graph's write quota per app and tenant: 3,000 writes per 2 min 30 s.
	DefaultWriteBudget = 3000
	DefaultWriteWindow = 150 * time.Second
)

// ClientConfig is how to reach a tenant.
type ClientConfig struct {
	// Authority is the identity platform's base URL; the token endpoint is
	// Authority/TenantID/oauth2/v2.0/token. Empty: DefaultAuthority.
	Authority string
	// GraphURL is Graph's v1.0 base URL. Empty: DefaultGraphURL.
	GraphURL     string
	TenantID     string
	ClientID     string
	ClientSecret string
	// WriteBudget writes per WriteWindow are the most this app sends to the
	// tenant (zero: Graph's quota); every client of the same app and tenant
	// in this process shares the budget, and with Ledger every process of
	// the database does.
	WriteBudget int
	WriteWindow time.Duration
	// Ledger counts the writes where every process sharing its database
	// sees them; nil: this process's writes only.
	Ledger *Ledger
	// HTTPClient carries the requests (its Transport is used); nil: a
	// client with a 60 s timeout.
	HTTPClient *http.Client
	// MaxAttempts bounds the tries of one request that is throttled or
	// meets a server error; 0: 8.
	MaxAttempts int
}

// Client calls Graph for one tenant. It is safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	http *http.Client
	gov  *Governor
	base *url.URL
}

// NewClient checks cfg and returns a client; no request is sent yet.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.Authority == "" {
		cfg.Authority = DefaultAuthority
	}
	if cfg.GraphURL == "" {
		cfg.GraphURL = DefaultGraphURL
	}
	if cfg.WriteBudget == 0 {
		cfg.WriteBudget, cfg.WriteWindow = DefaultWriteBudget, DefaultWriteWindow
	}
	if cfg.WriteWindow <= 0 {
		cfg.WriteWindow = DefaultWriteWindow
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.TenantID == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("entra: tenant ID, client ID and client secret are required")
	}
	cfg.Authority = strings.TrimSuffix(cfg.Authority, "/")
	cfg.GraphURL = strings.TrimSuffix(cfg.GraphURL, "/")
	base, err := url.Parse(cfg.GraphURL)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("entra: %q is not a Graph URL", cfg.GraphURL)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	cc := clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.Authority + "/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token",
		Scopes:       []string{"https://graph.microsoft.com/.default"},
		AuthStyle:    oauth2.AuthStyleInParams,
	}
	// The token is fetched once and reused until shortly before it
	// expires, by every client of the same app, tenant and secret in this
	// process (the engine opens a connector per run).
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	key := strings.ToLower(cfg.Authority + "|" + cfg.TenantID + "|" + cfg.ClientID)
	secret := sha256.Sum256([]byte(cfg.ClientSecret))
	ts := sharedTokenSource(key+"|"+hex.EncodeToString(secret[:]), func() oauth2.TokenSource { return cc.TokenSource(tokenCtx) })
	authed := oauth2.NewClient(tokenCtx, ts)
	authed.Timeout = hc.Timeout
	return &Client{cfg: cfg, http: authed, base: base, gov: sharedGovernor(key, cfg.WriteBudget, cfg.WriteWindow, cfg.Ledger)}, nil
}

// tokenSources are shared by the clients of one app, tenant and secret.
var (
	tokenSourcesMu sync.Mutex
	tokenSources   = map[string]oauth2.TokenSource{}
)

func sharedTokenSource(key string, make func() oauth2.TokenSource) oauth2.TokenSource {
	tokenSourcesMu.Lock()
	defer tokenSourcesMu.Unlock()
	ts := tokenSources[key]
	if ts == nil {
		ts = make()
		tokenSources[key] = ts
	}
	return ts
}

// Governor returns the write governor the client shares.
func (c *Client) Governor() *Governor { return c.gov }

// Error is an error Graph answered with, in Graph's own words.
type Error struct {
	Status  int
	Code    string
	Message string
	// Details are the codes and targets of a directory validation error,
	// such as ObjectConflict on userPrincipalName.
	Details []ErrorDetail
	// Op says what was being done, for the administrator.
	Op string
}

// ErrorDetail is one entry of an error's details.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target"`
}

func (e *Error) Error() string {
	s := fmt.Sprintf("Graph %d %s: %s", e.Status, e.Code, e.Message)
	if e.Op != "" {
		s = e.Op + ": " + s
	}
	return s
}

// Conflict reports the property a duplicate value was refused on, or "".
func (e *Error) Conflict() string {
	for _, d := range e.Details {
		if d.Code == "ObjectConflict" {
			return d.Target
		}
	}
	return ""
}

// Is lets the engine act on the kinds of refusal it knows.
func (e *Error) Is(target error) bool {
	switch target {
	case syncsvc.ErrUnreachable:
		return e.Status == http.StatusTooManyRequests || e.Status >= 500
	case syncsvc.ErrNoSuchObject:
		return e.Status == http.StatusNotFound
	}
	// A conflict is not ErrAlreadyExists: the connector itself decides
	// whether an existing user is the one to take (hard or soft match).
	return false
}

// readError reads Graph's error envelope.
func readError(status int, body []byte) *Error {
	var env struct {
		Error struct {
			Code    string        `json:"code"`
			Message string        `json:"message"`
			Details []ErrorDetail `json:"details"`
		} `json:"error"`
	}
	e := &Error{Status: status}
	if json.Unmarshal(body, &env) == nil && env.Error.Code != "" {
		e.Code, e.Message, e.Details = env.Error.Code, env.Error.Message, env.Error.Details
	} else {
		e.Code, e.Message = http.StatusText(status), strings.TrimSpace(string(body))
		if len(e.Message) > 300 {
			e.Message = e.Message[:300]
		}
	}
	return e
}

// unreachableError wraps a transport failure (or a token refusal) so that
// exports wait and retry.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return "Graph unreachable: " + e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }
func (e *unreachableError) Is(target error) bool {
	return target == syncsvc.ErrUnreachable
}

// retryAfter reads a Retry-After header in seconds, decimals allowed;
// zero when absent or unreadable.
func retryAfter(v string) time.Duration {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || f > 3600 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// backoffFor is the wait before try n (1-based) when Graph said nothing.
func backoffFor(n int) time.Duration {
	d := 500 * time.Millisecond << min(n-1, 6)
	return min(d, 30*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// url makes a request URL from a path relative to the Graph base, or
// passes a full URL (a nextLink or deltaLink) through verbatim when it
// points at the Graph base: the client's bearer token goes nowhere else
// (a deltaLink kept from before the system's Graph URL changed, or a link
// a server made up).
func (c *Client) url(path string) (string, error) {
	if !strings.HasPrefix(path, "https://") && !strings.HasPrefix(path, "http://") {
		return c.cfg.GraphURL + path, nil
	}
	if !c.Owns(path) {
		return "", fmt.Errorf("entra: %w", &ForeignLinkError{Link: path, GraphURL: c.cfg.GraphURL})
	}
	return path, nil
}

// Owns reports whether link points at the client's Graph base URL (same
// scheme, host and port, under its path).
func (c *Client) Owns(link string) bool {
	u, err := url.Parse(link)
	return err == nil && strings.EqualFold(u.Scheme, c.base.Scheme) && strings.EqualFold(u.Host, c.base.Host) &&
		strings.HasPrefix(u.Path, c.base.Path+"/")
}

// ForeignLinkError is a link to follow that points elsewhere than the
// system's Graph URL.
type ForeignLinkError struct{ Link, GraphURL string }

func (e *ForeignLinkError) Error() string {
	u, _ := url.Parse(e.Link)
	host := "another host"
	if u != nil {
		host = u.Scheme + "://" + u.Host
	}
	return fmt.Sprintf("a link to %s is not followed: the system's Graph URL is %s", host, e.GraphURL)
}

// Do sends one request, honouring the write governor and Retry-After, and
// decodes a JSON answer into out (when out is not nil). A refusal is an
// *Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("entra: encode request: %w", err)
		}
	}
	high := syncsvc.IsPersonWaiting(ctx)
	// A batch envelope's writes were counted item by item (Batch).
	write := method != http.MethodGet && ctx.Value(governedKey{}) == nil
	for attempt := 1; ; attempt++ {
		done := func() {}
		if write {
			var err error
			if done, err = c.gov.Wait(ctx, high, 1); err != nil {
				return err
			}
		}
		u, err := c.url(path)
		if err != nil {
			done()
			return err
		}
		status, header, data, err := c.send(ctx, method, u, body, high)
		done()
		if err != nil {
			var refused *Error
			if attempt >= c.cfg.MaxAttempts || ctx.Err() != nil || errors.As(err, &refused) {
				return err
			}
			if err := sleep(ctx, backoffFor(attempt)); err != nil {
				return err
			}
			continue
		}
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout {
			wait := retryAfter(header.Get("Retry-After"))
			if wait == 0 {
				wait = backoffFor(attempt)
			}
			c.gov.Pause(wait)
			if attempt >= c.cfg.MaxAttempts {
				return readError(status, data)
			}
			if err := sleep(ctx, wait); err != nil {
				return err
			}
			continue
		}
		if status >= 400 {
			return readError(status, data)
		}
		if out != nil && len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("entra: read the answer to %s %s: %w", method, path, err)
			}
		}
		return nil
	}
}

// send is one HTTP exchange.
func (c *Client) send(ctx context.Context, method, u string, body []byte, high bool) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("entra: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if high {
		req.Header.Set("x-ms-throttle-priority", "High")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			// The identity platform refused the credentials: the
			// administrator must fix them; retrying will not help.
			return 0, nil, nil, &Error{Status: http.StatusUnauthorized, Code: re.ErrorCode, Message: re.ErrorDescription,
				Op: "sign in to the tenant"}
		}
		return 0, nil, nil, &unreachableError{err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, nil, nil, &unreachableError{err}
	}
	return resp.StatusCode, resp.Header, data, nil
}

// Page is one page of a collection or of a delta round.
type Page struct {
	Value     []json.RawMessage `json:"value"`
	NextLink  string            `json:"@odata.nextLink"`
	DeltaLink string            `json:"@odata.deltaLink"`
}

// Pages follows a collection from path through every @odata.nextLink,
// verbatim, passing each page to fn; it returns the deltaLink of a delta
// round, if any.
func (c *Client) Pages(ctx context.Context, path string, fn func(json.RawMessage) error) (string, error) {
	next := path
	for next != "" {
		var p Page
		if err := c.Do(ctx, http.MethodGet, next, nil, &p); err != nil {
			return "", err
		}
		for _, v := range p.Value {
			if err := fn(v); err != nil {
				return "", err
			}
		}
		if p.DeltaLink != "" {
			return p.DeltaLink, nil
		}
		next = p.NextLink
	}
	return "", nil
}

// BatchRequest is one request of a JSON batch.
type BatchRequest struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"` // relative to the Graph base, e.g. /users
	Headers   map[string]string `json:"headers,omitempty"`
	Body      any               `json:"body,omitempty"`
	DependsOn []string          `json:"dependsOn,omitempty"`
}

// BatchResponse is the answer to one request of a batch.
type BatchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// Err is the item's refusal, or nil.
func (r BatchResponse) Err() error {
	if r.Status < 400 {
		return nil
	}
	return readError(r.Status, r.Body)
}

// MaxBatch is Graph's limit of requests in one batch.
const MaxBatch = 20

// Batch sends up to 20 requests as one JSON batch and returns the answer
// to each, matched by id. The batch is fully parallel (no request has
// dependsOn) or fully sequential (each request after the first depends on
// exactly the one before it), the only shapes Graph takes (CheckBatch).
// Items throttled with 429 (and those of a chain that failed with 424
// after one) are sent again, still in their order, after the longest
// Retry-After among them; the rest are not repeated.
func (c *Client) Batch(ctx context.Context, reqs []BatchRequest) (map[string]BatchResponse, error) {
	if err := CheckBatch(reqs); err != nil {
		return nil, err
	}
	high := syncsvc.IsPersonWaiting(ctx)
	out := make(map[string]BatchResponse, len(reqs))
	pending := reqs
	for attempt := 1; len(pending) > 0; attempt++ {
		writes := 0
		for i := range pending {
			if pending[i].Method != http.MethodGet {
				writes++
			}
			if pending[i].Body != nil {
				if pending[i].Headers == nil {
					pending[i].Headers = map[string]string{}
				}
				pending[i].Headers["Content-Type"] = "application/json"
			}
			if high {
				if pending[i].Headers == nil {
					pending[i].Headers = map[string]string{}
				}
				pending[i].Headers["x-ms-throttle-priority"] = "High"
			}
		}
		// Graph counts each item of a batch against the write budget, and
		// not the envelope.
		done, err := c.gov.Wait(ctx, high, writes)
		if err != nil {
			return nil, err
		}
		var env struct {
			Responses []BatchResponse `json:"responses"`
		}
		// The envelope itself is not throttled per item; Do retries it
		// when Graph refuses it whole.
		err = c.do(ctx, http.MethodPost, "/$batch", map[string]any{"requests": pending}, &env)
		done()
		if err != nil {
			return nil, err
		}
		got := map[string]BatchResponse{}
		for _, r := range env.Responses {
			got[strings.ToLower(r.ID)] = r
		}
		var wait time.Duration
		retry := map[string]bool{}
		for _, r := range pending {
			resp, ok := got[strings.ToLower(r.ID)]
			if !ok {
				return nil, fmt.Errorf("entra: the batch answer has no response for request %q", r.ID)
			}
			if resp.Status == http.StatusTooManyRequests {
				retry[strings.ToLower(r.ID)] = true
				wait = max(wait, retryAfter(resp.Headers["Retry-After"]))
			}
		}
		// What failed only because a throttled request did not run is
		// sent again with it.
		for changed := true; changed; {
			changed = false
			for _, r := range pending {
				id := strings.ToLower(r.ID)
				if retry[id] || got[id].Status != http.StatusFailedDependency {
					continue
				}
				for _, d := range r.DependsOn {
					if retry[strings.ToLower(d)] {
						retry[id], changed = true, true
					}
				}
			}
		}
		var again []BatchRequest
		for _, r := range pending {
			id := strings.ToLower(r.ID)
			if !retry[id] || attempt >= c.cfg.MaxAttempts {
				out[r.ID] = got[id]
				continue
			}
			var deps []string
			for _, d := range r.DependsOn {
				if retry[strings.ToLower(d)] {
					deps = append(deps, d)
				}
			}
			r.DependsOn = deps
			again = append(again, r)
		}
		if len(again) > 0 {
			if wait == 0 {
				wait = backoffFor(attempt)
			}
			c.gov.Pause(wait)
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
		}
		pending = again
	}
	return out, nil
}

// CheckBatch refuses a batch Graph would refuse: more than 20 requests,
// an id used twice (ignoring case), or dependsOn that makes the batch
// neither fully parallel nor fully sequential ("Batch should be either
// fully sequential or fully parallel", concepts/json-batching.md; Graph
// answers any other shape with 400).
func CheckBatch(reqs []BatchRequest) error {
	if len(reqs) == 0 || len(reqs) > MaxBatch {
		return fmt.Errorf("entra: a batch holds 1 to %d requests, not %d", MaxBatch, len(reqs))
	}
	ids := map[string]bool{}
	sequential := len(reqs) > 1 && len(reqs[1].DependsOn) > 0
	for i, r := range reqs {
		if ids[strings.ToLower(r.ID)] {
			return fmt.Errorf("entra: batch request id %q is used twice", r.ID)
		}
		ids[strings.ToLower(r.ID)] = true
		chained := i > 0 && len(r.DependsOn) == 1 && strings.EqualFold(r.DependsOn[0], reqs[i-1].ID)
		if i == 0 && len(r.DependsOn) > 0 || i > 0 && (sequential && !chained || !sequential && len(r.DependsOn) > 0) {
			return fmt.Errorf("entra: batch request %q: a batch is either fully parallel or a chain in which each request depends on the one before it", r.ID)
		}
	}
	return nil
}

// do is Do for a request whose writes the caller has counted already.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	return c.Do(context.WithValue(ctx, governedKey{}, true), method, path, in, out)
}

type governedKey struct{}

// governors are shared by every client of one app and tenant in this
// process, as Graph's quota is; with a ledger, by those counting in the
// same database.
var (
	governorsMu sync.Mutex
	governors   = map[string]*Governor{}
)

func sharedGovernor(key string, budget int, window time.Duration, ledger *Ledger) *Governor {
	governorsMu.Lock()
	defer governorsMu.Unlock()
	local := key
	if ledger != nil {
		local = fmt.Sprintf("%s|%p", key, ledger.pool)
	}
	g := governors[local]
	if g == nil {
		g = NewGovernor(budget, window)
		g.ledger, g.key = ledger, key
		governors[local] = g
	} else {
		// The writes it counted stay counted: every connector the
		// engine opens shares them.
		g.SetBudget(budget, window)
	}
	return g
}
