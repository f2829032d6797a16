package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// answer is a Graph response before it is written: the same for a request
// on its own and for an item of a batch.
type answer struct {
	status int
	body   any // nil: no body
	header http.Header
}

// graphError builds Graph's error envelope (OData v4).
func graphError(status int, code, message string, details ...map[string]string) answer {
	e := map[string]any{"code": code, "message": message}
	if len(details) > 0 {
		e["details"] = details
	}
	return answer{status: status, body: map[string]any{"error": e}}
}

// The errors the simulator answers with, worded as Graph words them.
func notFound(id string) answer {
	return graphError(http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id))
}

func invalidValue(prop, resource string) answer {
	return graphError(http.StatusBadRequest, "Request_BadRequest",
		fmt.Sprintf("Invalid value specified for property '%s' of resource '%s'.", prop, resource),
		map[string]string{"code": "InvalidValue", "target": prop})
}

func conflict(prop string) answer {
	return graphError(http.StatusBadRequest, "Request_BadRequest",
		fmt.Sprintf("Another object with the same value for property %s already exists.", prop),
		map[string]string{"target": prop, "code": "ObjectConflict"})
}

func badRequest(message string) answer {
	return graphError(http.StatusBadRequest, "Request_BadRequest", message)
}

func unsupportedQuery(message string) answer {
	return graphError(http.StatusBadRequest, "Request_UnsupportedQuery", message)
}

// graph serves /v1.0/: one request, or a JSON batch of them.
func (s *Server) graph(w http.ResponseWriter, r *http.Request) {
	if ok, msg := s.authorized(r); !ok {
		s.write(w, r, graphError(http.StatusUnauthorized, "InvalidAuthenticationToken", msg))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		s.write(w, r, badRequest("The request body could not be read."))
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	if isWrite(r.Method) {
		s.mu.Lock()
		if s.now().Before(s.retryAt) {
			s.stats.EarlyRetries++
		}
		s.mu.Unlock()
	}
	if path == "/$batch" {
		if r.Method != http.MethodPost {
			s.write(w, r, methodNotAllowed())
			return
		}
		s.write(w, r, s.batch(baseURL(r), body))
		return
	}
	s.write(w, r, s.do(r.Method, path, r.URL.Query(), r.Header, body, baseURL(r)))
}

// write sends an answer with the headers every Graph response carries.
func (s *Server) write(w http.ResponseWriter, r *http.Request, a answer) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	rid := newID()
	w.Header().Set("request-id", rid)
	crid := r.Header.Get("client-request-id")
	if crid == "" {
		crid = rid
	}
	w.Header().Set("client-request-id", crid)
	if a.body == nil {
		w.WriteHeader(a.status)
		return
	}
	addInnerError(a.body, rid, crid, s.now())
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(a.status)
	json.NewEncoder(w).Encode(a.body)
}

// addInnerError completes an error envelope with the request's ids.
func addInnerError(body any, rid, crid string, now time.Time) {
	m, ok := body.(map[string]any)
	if !ok {
		return
	}
	e, ok := m["error"].(map[string]any)
	if !ok {
		return
	}
	inner, _ := e["innerError"].(map[string]any)
	if inner == nil {
		inner = map[string]any{}
		e["innerError"] = inner
	}
	inner["date"] = now.UTC().Format("2006-01-02T15:04:05")
	inner["request-id"] = rid
	inner["client-request-id"] = crid
}

func methodNotAllowed() answer {
	return graphError(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPatch || method == http.MethodPut || method == http.MethodDelete
}

// do answers one Graph request (path without /v1.0).
func (s *Server) do(method, path string, query url.Values, header http.Header, body []byte, base string) answer {
	if s.cfg.OnRequest != nil {
		s.cfg.OnRequest(method, path, header)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Requests++
	if strings.EqualFold(header.Get("x-ms-throttle-priority"), "high") {
		s.stats.HighPriority++
	}
	now := s.now()
	if isWrite(method) {
		if a, throttled := s.throttle(now); throttled {
			s.stats.Throttled++
			return a
		}
		s.stats.Writes++
		if s.stats.FirstWrite.IsZero() {
			s.stats.FirstWrite = now
		}
		s.stats.LastWrite = now
	}
	s.purgeExpired(now)
	seg := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range seg {
		if u, err := url.PathUnescape(p); err == nil {
			seg[i] = u
		}
	}
	q := &request{method: method, seg: seg, query: query, header: header, body: body, base: base + "/v1.0", now: now}
	a := s.route(q)
	if a.header == nil {
		a.header = http.Header{}
	}
	if a.status < 400 {
		a.header.Set("x-ms-resource-unit", "1")
	}
	return a
}

// request is one Graph request as the handlers read it.
type request struct {
	method string
	seg    []string
	query  url.Values
	header http.Header
	body   []byte
	base   string // https://host/v1.0
	now    time.Time
}

func (s *Server) route(q *request) answer {
	seg, m := q.seg, q.method
	n := len(seg)
	switch {
	case n == 1 && seg[0] == "organization" && m == http.MethodGet:
		return s.organization(q)
	case seg[0] == "users":
		switch {
		case n == 1 && m == http.MethodGet:
			return s.list(q, "users")
		case n == 1 && m == http.MethodPost:
			return s.createUser(q)
		case n == 2 && isDelta(seg[1]) && m == http.MethodGet:
			return s.delta(q, "users")
		case n == 2 && m == http.MethodGet:
			return s.getUser(q, seg[1])
		case n == 2 && m == http.MethodPatch:
			return s.updateUser(q, seg[1])
		case n == 2 && m == http.MethodDelete:
			return s.deleteUser(q, seg[1])
		}
	case seg[0] == "groups":
		switch {
		case n == 1 && m == http.MethodGet:
			return s.list(q, "groups")
		case n == 1 && m == http.MethodPost:
			return s.createGroup(q)
		case n == 2 && isDelta(seg[1]) && m == http.MethodGet:
			return s.delta(q, "groups")
		case n == 2 && m == http.MethodGet:
			return s.getGroup(q, seg[1])
		case n == 2 && m == http.MethodPatch:
			return s.updateGroup(q, seg[1])
		case n == 2 && m == http.MethodDelete:
			return s.deleteGroup(seg[1])
		case n == 3 && seg[2] == "members" && m == http.MethodGet:
			return s.listMembers(q, seg[1])
		case n == 4 && seg[2] == "members" && seg[3] == "$ref" && m == http.MethodPost:
			return s.addMember(q, seg[1])
		case n == 5 && seg[2] == "members" && seg[4] == "$ref" && m == http.MethodDelete:
			return s.removeMember(seg[1], seg[3])
		}
	case n >= 2 && seg[0] == "directory" && seg[1] == "deletedItems":
		switch {
		case n == 3 && seg[2] == "microsoft.graph.user" && m == http.MethodGet:
			return s.listDeleted(q)
		case n == 3 && m == http.MethodGet:
			return s.getDeleted(q, seg[2])
		case n == 3 && m == http.MethodDelete:
			return s.purge(seg[2])
		case n == 4 && seg[3] == "restore" && m == http.MethodPost:
			return s.restore(q, seg[2])
		}
	default:
		return graphError(http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg[0]))
	}
	return methodNotAllowed()
}

func isDelta(seg string) bool { return seg == "delta" || seg == "microsoft.graph.delta" }

// throttle counts a write against the budget, or answers 429 past it.
// Called with s.mu held.
func (s *Server) throttle(now time.Time) (answer, bool) {
	if s.cfg.WriteBudget < 0 {
		return answer{}, false
	}
	cut := 0
	for cut < len(s.writes) && now.Sub(s.writes[cut]) >= s.cfg.WriteWindow {
		cut++
	}
	s.writes = s.writes[cut:]
	if len(s.writes) < s.cfg.WriteBudget {
		s.writes = append(s.writes, now)
		return answer{}, false
	}
	wait := s.writes[0].Add(s.cfg.WriteWindow).Sub(now)
	s.retryAt = later(s.retryAt, now.Add(wait))
	a := graphError(http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
	a.body.(map[string]any)["error"].(map[string]any)["innerError"] = map[string]any{"code": "429", "message": "Please retry after", "status": "429"}
	a.header = http.Header{}
	a.header.Set("Retry-After", formatSeconds(wait))
	a.header.Set("x-ms-throttle-scope", "Tenant_Application/Write/"+s.cfg.ClientID+"/"+s.cfg.TenantID)
	a.header.Set("x-ms-throttle-information", "WriteLimitExceeded")
	return a, true
}

// formatSeconds writes a wait as Retry-After does: whole seconds as an
// integer, otherwise with three decimals (Graph's samples show both).
func formatSeconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	if d%time.Second == 0 {
		return strconv.Itoa(int(d / time.Second))
	}
	// Rounded up: a client that waits what it is told is never early.
	return strconv.FormatFloat(math.Ceil(d.Seconds()*1000)/1000, 'f', 3, 64)
}

// batchItem is one request of a JSON batch.
type batchItem struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

// maxBatch is Graph's limit of requests in one batch.
const maxBatch = 20

// batch answers POST /$batch as Graph documents JSON batching
// (concepts/json-batching.md): up to 20 requests with unique ids (ignoring
// case); dependsOn orders them, and "batch should be either fully
// sequential or fully parallel", which Graph enforces by refusing any other
// shape with 400 (microsoftgraph/microsoft-graph-docs-contrib#2339: a
// batch whose request 3 depends on nothing while 2 and 4 form a chain).
// Fully sequential is a chain in the order given: the first request
// depends on nothing and each other on exactly the one before it (a
// request depending on several, or on one further back, is neither). A
// chain runs in order, and once a request fails (status 400 or more) every
// request after it fails with 424 Failed Dependency without running. A
// parallel batch runs in no particular order ("the server [processes]
// requests in the batch in the most efficient order"). Either way the
// answers come back in no particular order, matched by id.
func (s *Server) batch(base string, body []byte) answer {
	s.mu.Lock()
	s.stats.Batches++
	s.mu.Unlock()
	var in struct {
		Requests []batchItem `json:"requests"`
	}
	if err := json.Unmarshal(body, &in); err != nil || len(in.Requests) == 0 {
		return badRequest("Invalid batch payload format.")
	}
	if len(in.Requests) > maxBatch {
		return badRequest(fmt.Sprintf("Number of batch request steps exceeds the maximum of %d.", maxBatch))
	}
	seen := map[string]bool{}
	sequential := false
	for i, it := range in.Requests {
		id := strings.ToLower(it.ID)
		switch {
		case it.ID == "" || it.Method == "" || it.URL == "":
			return badRequest("Invalid batch payload format.")
		case seen[id]:
			return badRequest(fmt.Sprintf("Batch request step ids must be unique: '%s' is used twice.", it.ID))
		}
		seen[id] = true
		if i == 1 {
			sequential = len(it.DependsOn) > 0
		}
		chained := i > 0 && len(it.DependsOn) == 1 && strings.EqualFold(it.DependsOn[0], in.Requests[i-1].ID)
		if i == 0 && len(it.DependsOn) > 0 || i > 0 && (sequential && !chained || !sequential && len(it.DependsOn) > 0) {
			return graphError(http.StatusBadRequest, "BadRequest", "Batch should be either fully sequential or fully parallel.")
		}
	}
	order := make([]int, len(in.Requests))
	for i := range order {
		order[i] = i
	}
	if !sequential {
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	}
	failed := false // sequential: a request before this one failed
	responses := make([]map[string]any, 0, len(in.Requests))
	for _, i := range order {
		it := in.Requests[i]
		out := map[string]any{"id": it.ID}
		var a answer
		header := http.Header{}
		for k, v := range it.Headers {
			header.Set(k, v)
		}
		hasBody := len(it.Body) > 0 && !bytes.Equal(it.Body, []byte("null"))
		u, err := url.Parse(it.URL)
		switch {
		case failed:
			a = graphError(http.StatusFailedDependency, "FailedDependency", "The request could not be performed because of a failed dependency.")
		case err != nil || !strings.HasPrefix(u.Path, "/"):
			a = badRequest("Invalid request URL: batch request URLs are relative, such as /users.")
		case hasBody && header.Get("Content-Type") == "":
			a = badRequest("Write request id : " + it.ID + " does not contain Content-Type header or body.")
		default:
			a = s.do(strings.ToUpper(it.Method), u.Path, u.Query(), header, it.Body, base)
			if a.status == http.StatusTooManyRequests {
				s.mu.Lock()
				s.stats.ThrottledBody++
				s.mu.Unlock()
			}
		}
		failed = sequential && a.status >= 400
		out["status"] = a.status
		h := map[string]string{}
		for k := range a.header {
			h[k] = a.header.Get(k)
		}
		if a.body != nil {
			rid := newID()
			addInnerError(a.body, rid, rid, s.now())
			out["body"] = a.body
			h["Content-Type"] = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
		}
		out["headers"] = h
		responses = append(responses, out)
	}
	// Items come back in any order: clients must match them by id.
	rand.Shuffle(len(responses), func(i, j int) { responses[i], responses[j] = responses[j], responses[i] })
	return answer{status: http.StatusOK, body: map[string]any{"responses": responses}}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
