package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/tessera-idm/tessera/syncsvc"
)

// Attribute names with a meaning of their own in exports.
const (
	// SourceAnchorAttribute carries the AD objectGUID of a new user; the
	// connector writes its base64 as onPremisesImmutableId at creation and
	// never changes it after.
	SourceAnchorAttribute = syncsvc.SourceAnchorAttribute
	immutableIDProperty   = "onPremisesImmutableId"
)

// Export applies changes in order, one result each. Changes that are one
// Graph request each (user adds, updates, renames and deletes, a group's
// property and member changes) travel in JSON batches of up to 20. Graph
// advises that a batch be fully sequential or fully parallel, and these are
// fully parallel: Graph may run their requests in any order, so a batch
// never holds two whose order matters (the same object changed twice, a
// UPN one request frees and another takes, a membership of a user deleted
// in it). A member is named by its object id, which only the answer to its
// creation gives: the membership of a user created in the batch goes in
// the next one. Other changes go one by one.
func (c *Connector) Export(ctx context.Context, changes []syncsvc.ExportChange) []syncsvc.ExportResult {
	results := make([]syncsvc.ExportResult, len(changes))
	b := newBatch()
	flush := func() {
		if b.size() > 0 {
			c.sendBatch(ctx, b, results)
			b = newBatch()
		}
	}
	for i, ch := range changes {
		results[i].DN = ch.DN
		if ch.Anchor != "" && ch.Op != syncsvc.ExportAdd {
			c.remember(ch.DN, ch.Anchor) // the object's id, known to the engine
		}
		p, ok, err := c.plan(ctx, i, ch)
		if err == nil && ok {
			if b.size() == MaxBatch || b.clashes(p.keys) {
				flush()
			}
			b.users = append(b.users, p)
			b.claim(p.keys)
			continue
		}
		if err == nil {
			var g groupPlan
			g, ok, err = c.planGroup(ctx, i, ch, b)
			if err != nil && b.size() > 0 || ok && (b.size()+len(g.reqs) > MaxBatch || b.clashes(g.keys)) {
				// What the batch holds goes first (it may create or
				// rename the members named), then the group is planned
				// again.
				flush()
				g, ok, err = c.planGroup(ctx, i, ch, b)
			}
			if ok && err == nil {
				b.groups = append(b.groups, g)
				b.claim(g.keys)
				continue
			}
		}
		if err != nil {
			results[i].Err = c.describe(err, ch)
			continue
		}
		flush() // changes apply in order
		results[i] = c.exportOne(ctx, ch)
	}
	flush()
	return results
}

// ExportBatchSize is how many changes the engine hands Export at a time:
// one JSON batch's worth.
func (c *Connector) ExportBatchSize() int { return MaxBatch }

// batch is the changes one JSON batch carries.
type batch struct {
	users  []planned
	groups []groupPlan
	// keys are what the batch's requests claim: two requests claiming the
	// same key must not run in parallel.
	keys map[string]bool
}

func newBatch() *batch { return &batch{keys: map[string]bool{}} }

func (b *batch) size() int {
	n := len(b.users)
	for _, g := range b.groups {
		n += len(g.reqs)
	}
	return n
}

func (b *batch) clashes(keys []string) bool {
	return slices.ContainsFunc(keys, func(k string) bool { return b.keys[k] })
}

func (b *batch) claim(keys []string) {
	for _, k := range keys {
		b.keys[k] = true
	}
}

// The keys a request claims in a parallel batch: the object it changes,
// the UPNs it takes or frees, the object its membership names.
func objKey(id string) string  { return "obj:" + strings.ToLower(id) }
func upnKey(upn string) string { return "upn:" + strings.ToLower(upn) }
func refKey(id string) string  { return "ref:" + strings.ToLower(id) }
func memberKey(gid, id string) string {
	return "member:" + strings.ToLower(gid) + "/" + strings.ToLower(id)
}

// planned is a change that is one request of a batch.
type planned struct {
	index int
	ch    syncsvc.ExportChange
	req   BatchRequest
	upn   string // an add's or a rename's UPN
	immID string // an add's onPremisesImmutableId
	id    string // the object's id, when known
	keys  []string
}

// groupPlan is a group's modify as requests of a batch: its properties,
// and its member adds and removes.
type groupPlan struct {
	index int
	ch    syncsvc.ExportChange
	gid   string
	reqs  []BatchRequest
	keys  []string
	// members are the member DN of each add or remove request, by id.
	members map[string]string
	// unborn are the members not added because their creation failed.
	unborn []error
}

// plan makes a change into one batch request when it is one; ok false
// means it is to be sent on its own.
func (c *Connector) plan(ctx context.Context, i int, ch syncsvc.ExportChange) (p planned, ok bool, err error) {
	p = planned{index: i, ch: ch}
	p.req.ID = strconv.Itoa(i)
	name, class, err := nameOf(ch.DN)
	if err != nil {
		return p, false, err
	}
	if class != syncsvc.ObjectUser {
		return p, false, nil
	}
	switch ch.Op {
	case syncsvc.ExportAdd:
		body, upn, immID, err := c.userBody(ch)
		if err != nil {
			return p, false, err
		}
		if immID != "" {
			deleted, err := c.deletedUser(ctx, immID)
			if err != nil {
				return p, false, err
			}
			if deleted != "" {
				return p, false, nil // restored, on its own
			}
		}
		p.req.Method, p.req.URL, p.req.Body, p.upn, p.immID = http.MethodPost, "/users", body, upn, immID
		p.keys = []string{upnKey(upn)}
		return p, true, nil
	case syncsvc.ExportModify, syncsvc.ExportRename, syncsvc.ExportDelete:
		if p.id, err = c.idOf(ctx, ch.DN); err != nil {
			return p, false, c.describe(err, ch)
		}
		p.req.URL = "/users/" + url.PathEscape(p.id)
		p.keys = []string{objKey(p.id)}
		switch ch.Op {
		case syncsvc.ExportDelete:
			p.req.Method = http.MethodDelete
			p.keys = append(p.keys, upnKey(name), refKey(p.id))
		case syncsvc.ExportRename:
			newName, _, err := nameOf(ch.NewDN)
			if err != nil {
				return p, false, err
			}
			p.upn = c.FixUPN(newName)
			p.req.Method, p.req.Body = http.MethodPatch, map[string]any{"userPrincipalName": p.upn}
			p.keys = append(p.keys, upnKey(name), upnKey(p.upn))
		default:
			body, err := userPatch(ch.Attributes)
			if err != nil {
				return p, false, err
			}
			if len(body) == 0 {
				return p, false, nil // nothing to send: answered on its own
			}
			p.req.Method, p.req.Body = http.MethodPatch, body
		}
		return p, true, nil
	}
	return p, false, nil
}

// errCreatedInBatch is a member that the batch being planned creates: its
// id is known once the batch is answered.
var errCreatedInBatch = errors.New("entra: a member created in the same batch")

// planGroup makes a group's modify into requests of the batch b, when it
// is one. ok false means it is to be sent on its own.
func (c *Connector) planGroup(ctx context.Context, i int, ch syncsvc.ExportChange, b *batch) (g groupPlan, ok bool, err error) {
	g = groupPlan{index: i, ch: ch, members: map[string]string{}}
	if _, class, err := nameOf(ch.DN); err != nil || class != syncsvc.ObjectGroup || ch.Op != syncsvc.ExportModify {
		return g, false, err
	}
	props, add, del := groupFields(ch.Attributes)
	if len(add)+len(del) == 0 {
		return g, false, nil
	}
	if g.gid, err = c.idOf(ctx, ch.DN); err != nil {
		return g, false, err
	}
	for _, p := range b.users {
		if p.ch.Op == syncsvc.ExportAdd && slices.ContainsFunc(add, func(dn string) bool { return strings.EqualFold(dn, p.ch.DN) }) {
			return g, false, errCreatedInBatch
		}
	}
	prefix := "g" + strconv.Itoa(i)
	if len(props) > 0 {
		g.reqs = append(g.reqs, BatchRequest{ID: prefix + "p", Method: http.MethodPatch, URL: "/groups/" + url.PathEscape(g.gid), Body: props})
		g.keys = append(g.keys, objKey(g.gid))
	}
	for k, dn := range add {
		if cause, ok := c.unborn[strings.ToLower(dn)]; ok {
			g.unborn = append(g.unborn, fmt.Errorf("member %s: not added, as its creation failed: %w", dn, cause))
			continue
		}
		id, err := c.idOf(ctx, dn)
		if err != nil {
			return g, false, fmt.Errorf("member %s: %w", dn, err)
		}
		r := BatchRequest{ID: prefix + "a" + strconv.Itoa(k), Method: http.MethodPost, URL: "/groups/" + url.PathEscape(g.gid) + "/members/$ref",
			Body: memberRef(c.c.cfg.GraphURL, id)}
		g.members[r.ID] = dn
		g.reqs = append(g.reqs, r)
		g.keys = append(g.keys, memberKey(g.gid, id), refKey(id))
	}
	for k, dn := range del {
		id, err := c.idOf(ctx, dn)
		if errors.Is(err, syncsvc.ErrNoSuchObject) {
			continue // the user is gone, and with it the membership
		} else if err != nil {
			return g, false, err
		}
		r := BatchRequest{ID: prefix + "d" + strconv.Itoa(k), Method: http.MethodDelete,
			URL: "/groups/" + url.PathEscape(g.gid) + "/members/" + url.PathEscape(id) + "/$ref"}
		g.members[r.ID] = dn
		g.reqs = append(g.reqs, r)
		g.keys = append(g.keys, memberKey(g.gid, id), refKey(id))
	}
	if len(g.reqs) == 0 && len(g.unborn) > 0 {
		return g, false, errors.Join(g.unborn...)
	}
	if len(g.reqs) == 0 || len(g.reqs) > MaxBatch {
		return g, false, nil
	}
	return g, true, nil
}

// memberRef is the body of a member add: Graph documents the member as
// .../directoryObjects/{id} (group-post-members).
func memberRef(base, id string) map[string]any {
	return map[string]any{"@odata.id": base + "/directoryObjects/" + id}
}

// sendBatch sends a batch and records the results of its changes.
func (c *Connector) sendBatch(ctx context.Context, b *batch, results []syncsvc.ExportResult) {
	var reqs []BatchRequest
	for _, p := range b.users {
		reqs = append(reqs, p.req)
	}
	for _, g := range b.groups {
		reqs = append(reqs, g.reqs...)
	}
	answers, err := c.c.Batch(ctx, reqs)
	for _, p := range b.users {
		r := &results[p.index]
		if err != nil {
			r.Err = c.describe(err, p.ch)
			continue
		}
		a := answers[p.req.ID]
		if aerr := a.Err(); aerr != nil {
			var ge *Error
			if p.ch.Op == syncsvc.ExportAdd && errors.As(aerr, &ge) && ge.Conflict() != "" {
				*r = c.match(ctx, p, ge)
				if r.Err == nil {
					c.remember(p.ch.DN, r.Anchor) // as the groups' member values name it
				} else {
					c.unborn[strings.ToLower(p.ch.DN)] = r.Err
				}
				continue
			}
			if p.ch.Op == syncsvc.ExportDelete && errors.Is(aerr, syncsvc.ErrNoSuchObject) {
				continue // gone already
			}
			r.Err = c.describe(aerr, p.ch)
			if p.ch.Op == syncsvc.ExportAdd && !errors.Is(aerr, syncsvc.ErrUnreachable) {
				c.unborn[strings.ToLower(p.ch.DN)] = r.Err
			}
			continue
		}
		switch p.ch.Op {
		case syncsvc.ExportAdd:
			var o graphObject
			if err := decode(a.Body, &o); err != nil {
				r.Err = err
				continue
			}
			r.Anchor, r.DN = o.id(), UserDN(p.upn)
			c.remember(r.DN, r.Anchor)
			c.remember(p.ch.DN, r.Anchor) // as the groups' member values name it
		case syncsvc.ExportRename:
			r.Anchor, r.DN = p.id, UserDN(p.upn)
			c.remember(r.DN, p.id)
		}
	}
	for _, g := range b.groups {
		r := &results[g.index]
		if err != nil {
			r.Err = c.describe(err, g.ch)
			continue
		}
		if gerr := groupResult(g, answers); gerr != nil {
			r.Err = c.describe(gerr, g.ch)
		}
	}
}

// groupResult reads the answers to a group's requests; a member not added
// because its creation failed makes the change fail too, once the rest went
// through.
func groupResult(g groupPlan, answers map[string]BatchResponse) error {
	for _, r := range g.reqs {
		if err := settled(r, answers[r.ID]); err != nil {
			if dn := g.members[r.ID]; dn != "" {
				return fmt.Errorf("member %s: %w", dn, err)
			}
			return err
		}
	}
	return errors.Join(g.unborn...)
}

// settled is the refusal in an answer, or nil when it is what was wanted:
// a member already present (Graph's "already exist" 400), or already gone,
// is.
func settled(r BatchRequest, a BatchResponse) error {
	err := a.Err()
	var ge *Error
	switch {
	case err == nil:
	case !strings.HasSuffix(r.URL, "/$ref"):
		return err
	case r.Method == http.MethodPost && errors.As(err, &ge) && ge.Status == http.StatusBadRequest && strings.Contains(ge.Message, "already exist"):
	case r.Method == http.MethodDelete && (a.Status == http.StatusNotFound ||
		errors.As(err, &ge) && strings.Contains(ge.Message, "do not exist")):
	default:
		return err
	}
	return nil
}

// describe puts what was being done in front of Graph's words.
func (c *Connector) describe(err error, ch syncsvc.ExportChange) error {
	var ge *Error
	if errors.As(err, &ge) && ge.Op == "" {
		cp := *ge
		cp.Op = fmt.Sprintf("%s %s", ch.Op, ch.DN)
		return &cp
	}
	return err
}

// userBody is the POST /users body of an add.
func (c *Connector) userBody(ch syncsvc.ExportChange) (body map[string]any, upn, immID string, err error) {
	name, _, err := nameOf(ch.DN)
	if err != nil {
		return nil, "", "", err
	}
	upn = c.FixUPN(name)
	alias, _, _ := strings.Cut(upn, "@")
	password := ch.Password
	if password == "" {
		// Entra requires one: a random one no one knows; the account
		// stays disabled until its person sets their own.
		password = randomPassword()
	}
	body = map[string]any{"accountEnabled": ch.Enabled && ch.Password != "", "displayName": alias, "mailNickname": mailNickname(alias),
		"userPrincipalName": upn, "passwordProfile": map[string]any{"forceChangePasswordNextSignIn": false, "password": password}}
	for _, a := range ch.Attributes {
		if len(a.Values) == 0 {
			continue
		}
		switch {
		case strings.EqualFold(a.Name, SourceAnchorAttribute):
			if immID, err = ImmutableID(a.Values[0]); err != nil {
				return nil, "", "", err
			}
		case strings.EqualFold(a.Name, immutableIDProperty):
			immID = a.Values[0]
		case strings.EqualFold(a.Name, "userAccountControl"), strings.EqualFold(a.Name, "userPrincipalName"):
			// Set from Enabled and from the DN.
		default:
			p, v, err := propertyValue(a)
			if err != nil {
				return nil, "", "", err
			}
			body[p] = v
		}
	}
	if immID != "" {
		body[immutableIDProperty] = immID
	}
	return body, upn, immID, nil
}

func unknownProperty(name string) error {
	return fmt.Errorf("entra: Entra ID users have no property %q that Tessera writes; change the outbound flow", name)
}

// oneValue refuses several values for a user property, each of which
// holds one: a flow of a multi-valued attribute must pick or join them.
func oneValue(p string, n int) error {
	return fmt.Errorf("entra: the Entra ID property %s holds one value, and the outbound flow gives %d; join them in the flow (person.x.join(\", \"))", p, n)
}

// propertyValue is the Graph property a change writes and its JSON value:
// a text, null to clear it, or a list for a collection ([] clears one: a
// collection is not nullable). What Graph would refuse for its shape
// (a read-only property, several values where it takes one) is refused
// here, before anything is sent, in words that name the flow to change.
func propertyValue(a syncsvc.AttributeChange) (string, any, error) {
	p, ok := userPropertyOf(a.Name)
	switch {
	case !ok:
		return "", nil, unknownProperty(a.Name)
	case p.ReadOnly:
		return "", nil, fmt.Errorf("entra: the Entra ID property %s is read-only through Microsoft Graph; remove its outbound flow", p.Name)
	case p.Multi && p.MaxValues > 0 && len(a.Values) > p.MaxValues:
		return "", nil, fmt.Errorf("entra: Microsoft Graph takes at most %d value(s) in %s although it is a collection, and the outbound flow gives %d; map an attribute of one value",
			p.MaxValues, p.Name, len(a.Values))
	case p.Multi:
		return p.Name, append([]string{}, a.Values...), nil
	case len(a.Values) > 1:
		return "", nil, oneValue(p.Name, len(a.Values))
	case len(a.Values) == 0:
		return p.Name, nil, nil
	}
	return p.Name, a.Values[0], nil
}

// mailNickname makes a UPN's alias into a valid mailNickname.
func mailNickname(alias string) string {
	b := []byte(alias)
	for i, c := range b {
		if c < 0x21 || c > 0x7e || strings.IndexByte("@()\\[]\";:<>,", c) >= 0 {
			b[i] = '_'
		}
	}
	return string(b[:min(len(b), 64)])
}

// userPatch is the PATCH body of a modify.
func userPatch(changes []syncsvc.AttributeChange) (map[string]any, error) {
	body := map[string]any{}
	for _, a := range changes {
		var v any
		if len(a.Values) > 0 {
			v = a.Values[0]
		}
		switch {
		case strings.EqualFold(a.Name, SourceAnchorAttribute), strings.EqualFold(a.Name, immutableIDProperty),
			strings.EqualFold(a.Name, "userPrincipalName"):
			// The anchor is never changed; the UPN follows the DN.
		case strings.EqualFold(a.Name, "userAccountControl"):
			uac, err := strconv.ParseInt(fmt.Sprint(v), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("entra: userAccountControl %v is not a number", v)
			}
			body["accountEnabled"] = uac&2 == 0
		case strings.EqualFold(a.Name, "accountEnabled"):
			body["accountEnabled"] = strings.EqualFold(fmt.Sprint(v), "true")
		default:
			p, val, err := propertyValue(a)
			if err != nil {
				return nil, err
			}
			if p == "displayName" && val == nil {
				continue // Graph cannot clear it
			}
			body[p] = val
		}
	}
	return body, nil
}

// deletedUser finds the soft-deleted user holding an immutable ID; it
// reads deleted items once per connector.
func (c *Connector) deletedUser(ctx context.Context, immID string) (string, error) {
	if c.delete == nil {
		c.delete = map[string]string{}
		if _, err := c.c.Pages(ctx, "/directory/deletedItems/microsoft.graph.user?$top=999&$select=id,onPremisesImmutableId",
			func(raw json.RawMessage) error {
				var o graphObject
				if err := decode(raw, &o); err != nil {
					return err
				}
				if v := o.text(immutableIDProperty); v != "" {
					c.delete[v] = o.id()
				}
				return nil
			}); err != nil {
			c.delete = nil
			return "", err
		}
	}
	return c.delete[immID], nil
}

// match answers an add that Graph refused as a duplicate: the user with
// the same onPremisesImmutableId is ours (hard match: a repeated export
// after a crash finds it); one with the same UPN and no immutable ID is
// taken only when soft match is on.
func (c *Connector) match(ctx context.Context, p planned, cause *Error) syncsvc.ExportResult {
	r := syncsvc.ExportResult{DN: p.ch.DN}
	sel := "$select=id,userPrincipalName,onPremisesImmutableId"
	if p.immID != "" {
		var list struct {
			Value []graphObject `json:"value"`
		}
		filter := url.QueryEscape(immutableIDProperty + " eq '" + odataQuote(p.immID) + "'")
		if err := c.c.Do(ctx, http.MethodGet, "/users?$filter="+filter+"&"+sel, nil, &list); err != nil {
			r.Err = c.describe(err, p.ch)
			return r
		}
		if len(list.Value) > 0 {
			o := list.Value[0]
			r.Anchor, r.DN = o.id(), UserDN(o.text("userPrincipalName"))
			c.remember(r.DN, r.Anchor)
			return r
		}
	}
	if cause.Conflict() == "userPrincipalName" && c.cfg.SoftMatch {
		var o graphObject
		err := c.c.Do(ctx, http.MethodGet, "/users/"+url.PathEscape(p.upn)+"?"+sel, nil, &o)
		if err == nil && o.text(immutableIDProperty) == "" {
			if p.immID != "" {
				if err := c.c.Do(ctx, http.MethodPatch, "/users/"+url.PathEscape(o.id()), map[string]any{immutableIDProperty: p.immID}, nil); err != nil {
					r.Err = c.describe(err, p.ch)
					return r
				}
			}
			r.Anchor, r.DN = o.id(), UserDN(o.text("userPrincipalName"))
			c.remember(r.DN, r.Anchor)
			return r
		}
	}
	e := *cause
	e.Op = fmt.Sprintf("%s %s", p.ch.Op, p.ch.DN)
	if cause.Conflict() == "userPrincipalName" {
		why := "soft match by UPN is off for this system"
		if c.cfg.SoftMatch {
			why = "it is linked to another on-premises account (its onPremisesImmutableId differs)"
		}
		e.Message += " A user with this UPN exists in Entra ID and is not taken over: " + why + "."
	}
	r.Err = &e
	return r
}

// exportOne sends a change that does not fit a batch.
func (c *Connector) exportOne(ctx context.Context, ch syncsvc.ExportChange) syncsvc.ExportResult {
	r := syncsvc.ExportResult{DN: ch.DN}
	_, class, err := nameOf(ch.DN)
	if err != nil {
		r.Err = err
		return r
	}
	if class == syncsvc.ObjectUser {
		switch ch.Op {
		case syncsvc.ExportAdd:
			return c.restoreUser(ctx, ch)
		case syncsvc.ExportModify:
			return r // nothing to send
		}
	}
	switch ch.Op {
	case syncsvc.ExportAdd:
		r.Anchor, r.Err = c.addGroup(ctx, ch)
	case syncsvc.ExportModify:
		r.Err = c.modifyGroup(ctx, ch.DN, ch.Attributes)
	case syncsvc.ExportRename:
		var nick string
		if nick, _, err = nameOf(ch.NewDN); err == nil {
			err = c.patchGroup(ctx, ch.DN, map[string]any{"mailNickname": nick})
		}
		if err == nil {
			r.DN = ch.NewDN
			r.Anchor = c.ids[strings.ToLower(ch.DN)]
			c.remember(ch.NewDN, r.Anchor)
		}
		r.Err = err
	case syncsvc.ExportDelete:
		var id string
		if id, err = c.idOf(ctx, ch.DN); err == nil {
			err = c.c.Do(ctx, http.MethodDelete, "/groups/"+url.PathEscape(id), nil, nil)
		}
		r.Err = err
	}
	if r.Err != nil {
		r.Err = c.describe(r.Err, ch)
	}
	return r
}

// restoreUser brings back the soft-deleted user holding the add's
// immutable ID, and gives it the add's values.
func (c *Connector) restoreUser(ctx context.Context, ch syncsvc.ExportChange) syncsvc.ExportResult {
	r := syncsvc.ExportResult{DN: ch.DN}
	body, upn, immID, err := c.userBody(ch)
	if err != nil {
		r.Err = err
		return r
	}
	id, err := c.deletedUser(ctx, immID)
	if err == nil {
		// The restore and the update that gives it the add's values are a
		// chain: the update depends on the restore, and fails with 424
		// without running when the restore fails.
		delete(body, "passwordProfile") // the restored account keeps its own
		delete(body, immutableIDProperty)
		var answers map[string]BatchResponse
		answers, err = c.c.Batch(ctx, []BatchRequest{
			{ID: "restore", Method: http.MethodPost, URL: "/directory/deletedItems/" + url.PathEscape(id) + "/restore"},
			{ID: "update", Method: http.MethodPatch, URL: "/users/" + url.PathEscape(id), Body: body, DependsOn: []string{"restore"}},
		})
		if err == nil {
			if err = answers["restore"].Err(); err == nil {
				delete(c.delete, immID)
				err = answers["update"].Err()
			}
		}
	}
	if err != nil {
		r.Err = c.describe(err, ch)
		return r
	}
	r.Anchor, r.DN = id, UserDN(upn)
	c.remember(r.DN, id)
	return r
}

// groupFields reads a group add's or modify's properties and members.
func groupFields(changes []syncsvc.AttributeChange) (props map[string]any, add, del []string) {
	props = map[string]any{}
	for _, a := range changes {
		var v any
		if len(a.Values) > 0 {
			v = a.Values[0]
		}
		switch strings.ToLower(a.Name) {
		case "displayname":
			if v != nil {
				props["displayName"] = v
			}
		case "description":
			props["description"] = v
		case "member":
			if a.Op == syncsvc.AttributeDeleteValues {
				del = append(del, a.Values...)
			} else {
				add = append(add, a.Values...)
			}
		}
		// groupType and the like: every group Tessera makes in Entra ID
		// is a security group.
	}
	return props, add, del
}

// memberIDs finds the object ids of member DNs.
func (c *Connector) memberIDs(ctx context.Context, dns []string) ([]string, error) {
	ids := make([]string, 0, len(dns))
	for _, dn := range dns {
		id, err := c.idOf(ctx, dn)
		if err != nil {
			return nil, fmt.Errorf("member %s: %w", dn, err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// addGroup creates a security group with its first 20 members bound at
// creation, and adds the rest by reference.
func (c *Connector) addGroup(ctx context.Context, ch syncsvc.ExportChange) (string, error) {
	nick, _, err := nameOf(ch.DN)
	if err != nil {
		return "", err
	}
	if _, err := c.idOf(ctx, ch.DN); err == nil {
		// mailNickname is not unique for security groups; Tessera names
		// its groups by it, so one there already is not made again.
		return "", fmt.Errorf("%w: a group with mailNickname %s exists in Entra ID", syncsvc.ErrAlreadyExists, nick)
	} else if !errors.Is(err, syncsvc.ErrNoSuchObject) {
		return "", err
	}
	props, add, _ := groupFields(ch.Attributes)
	ids, err := c.memberIDs(ctx, add)
	if err != nil {
		return "", err
	}
	body := map[string]any{"displayName": nick, "mailNickname": nick, "mailEnabled": false, "securityEnabled": true, "groupTypes": []string{}}
	for k, v := range props {
		if v != nil {
			body[k] = v
		}
	}
	first := ids[:min(len(ids), maxBindAtCreate)]
	if len(first) > 0 {
		body["members@odata.bind"] = bindURLs(c.c.cfg.GraphURL, first)
	}
	var o graphObject
	if err := c.c.Do(ctx, http.MethodPost, "/groups", body, &o); err != nil {
		return "", err
	}
	c.remember(ch.DN, o.id())
	return o.id(), c.changeMembers(ctx, o.id(), ids[len(first):], nil, nil)
}

// maxBindAtCreate is Graph's limit of relationships bound at creation.
const maxBindAtCreate = 20

// bindURLs names the members bound at a group's creation as
// group-post-groups documents them: .../users/{id}.
func bindURLs(base string, ids []string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = base + "/users/" + id
	}
	return out
}

func (c *Connector) patchGroup(ctx context.Context, dn string, body map[string]any) error {
	id, err := c.idOf(ctx, dn)
	if err != nil {
		return err
	}
	return c.c.Do(ctx, http.MethodPatch, "/groups/"+url.PathEscape(id), body, nil)
}

// modifyGroup changes a group's properties and members.
func (c *Connector) modifyGroup(ctx context.Context, dn string, changes []syncsvc.AttributeChange) error {
	id, err := c.idOf(ctx, dn)
	if err != nil {
		return err
	}
	props, add, del := groupFields(changes)
	addIDs, err := c.memberIDs(ctx, add)
	if err != nil {
		return err
	}
	var delIDs []string
	for _, m := range del {
		mid, err := c.idOf(ctx, m)
		if errors.Is(err, syncsvc.ErrNoSuchObject) {
			continue // the user is gone, and with it the membership
		} else if err != nil {
			return err
		}
		delIDs = append(delIDs, mid)
	}
	var props0 *BatchRequest
	if len(props) > 0 {
		props0 = &BatchRequest{ID: "props", Method: http.MethodPatch, URL: "/groups/" + url.PathEscape(id), Body: props}
	}
	return c.changeMembers(ctx, id, addIDs, delIDs, props0)
}

// changeMembers adds and removes members by reference, 20 requests to a
// fully parallel batch (none depends on another: no member change needs
// another first, nor the group's properties); props, when set, goes in the
// first batch beside them. A member already present, or already gone, is
// what was wanted.
func (c *Connector) changeMembers(ctx context.Context, gid string, add, del []string, props *BatchRequest) error {
	var reqs []BatchRequest
	if props != nil {
		reqs = append(reqs, *props)
	}
	for i, id := range add {
		reqs = append(reqs, BatchRequest{ID: "a" + strconv.Itoa(i), Method: http.MethodPost, URL: "/groups/" + url.PathEscape(gid) + "/members/$ref",
			Body: memberRef(c.c.cfg.GraphURL, id)})
	}
	for i, id := range del {
		reqs = append(reqs, BatchRequest{ID: "d" + strconv.Itoa(i), Method: http.MethodDelete,
			URL: "/groups/" + url.PathEscape(gid) + "/members/" + url.PathEscape(id) + "/$ref"})
	}
	for start := 0; start < len(reqs); start += MaxBatch {
		chunk := reqs[start:min(start+MaxBatch, len(reqs))]
		answers, err := c.c.Batch(ctx, chunk)
		if err != nil {
			return err
		}
		for _, r := range chunk {
			if err := settled(r, answers[r.ID]); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetPassword resets a user's password through passwordProfile. A person
// is waiting for it: it goes ahead of bulk work.
func (c *Connector) SetPassword(ctx context.Context, dn, password string) error {
	return c.patchUser(syncsvc.PersonWaiting(ctx), dn, map[string]any{"passwordProfile": map[string]any{
		"forceChangePasswordNextSignIn": false, "password": password}})
}

// SetEnabled sets accountEnabled.
func (c *Connector) SetEnabled(ctx context.Context, dn string, enabled bool) error {
	return c.patchUser(ctx, dn, map[string]any{"accountEnabled": enabled})
}

// Unlock cannot be done: Entra ID's smart lockout ends by itself, and
// Graph neither shows it nor offers a call to end it sooner. Saying the
// account "was not locked" would claim what no one knows.
func (c *Connector) Unlock(ctx context.Context, dn string) (bool, error) {
	return false, syncsvc.ErrCannotUnlock
}

func (c *Connector) patchUser(ctx context.Context, dn string, body map[string]any) error {
	id, err := c.idOf(ctx, dn)
	if err != nil {
		return err
	}
	return c.c.Do(ctx, http.MethodPatch, "/users/"+url.PathEscape(id), body, nil)
}
