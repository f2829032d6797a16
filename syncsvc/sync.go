package syncsvc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/rule"
)

// syncScope is which metaverse objects a sync looks at: all of them (full
// sync), or the listed ones (delta sync, a request's hand-off, preview).
type syncScope struct {
	all      bool
	people   []string
	groups   []string
	requests []requestLink // the requests whose changes this sync carries
	dryRun   bool          // compute only (preview)
}

// requestLink names one metaverse object (a person or a group) whose
// change a request waits to see exported: a request's sync links it to
// the pending exports of its own objects only.
type requestLink struct {
	request, person, group string
}

// rules is a system's compiled sync rules.
type rules struct {
	env          *rule.Env
	users, group *compiledRule
}

// loadRules reads the sync rules of a system and returns them compiled,
// from compiledSets when the rules and the attribute table are as they
// were when compiled.
func (e *Engine) loadRules(ctx context.Context, q querier, systemID string) (*rules, error) {
	extra, err := extraAttributes(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: attribute schema: %w", err)
	}
	list, err := e.rulesOf(ctx, q, systemID)
	if err != nil {
		return nil, err
	}
	// Everything compiled from is in the key, so a changed rule or
	// attribute is a miss, never a stale hit.
	key, err := json.Marshal(struct {
		System string
		Extra  []portal.Attribute
		Rules  []SyncRule
	}{systemID, extra, list})
	if err != nil {
		return nil, fmt.Errorf("syncsvc: sync rules: %w", err)
	}
	if rs, ok := compiledSets.Get(string(key)); ok {
		return rs, nil
	}
	env, err := rule.NewEnv(portal.NewSchema(extra))
	if err != nil {
		return nil, fmt.Errorf("syncsvc: attribute schema: %w", err)
	}
	rs, err := compileRules(env, list)
	if err != nil {
		return nil, err
	}
	compiledSets.Put(string(key), rs)
	return rs, nil
}

// compiledSets keeps systems' compiled sync rules in this process: a
// request's export syncs a person or a group or two, and compiling the
// rules (the rule language and every flow) cost it more than the sync.
// Compiled rules are only read, so syncs share them.
var compiledSets = rule.NewCache[string, *rules](maxRuleSets)

// maxRuleSets bounds compiledSets; past it the cache starts afresh.
const maxRuleSets = 64

// compileRules compiles a system's sync rules against env.
func compileRules(env *rule.Env, list []SyncRule) (*rules, error) {
	rs := &rules{env: env}
	for i := range list {
		c, err := list[i].compile(env)
		if err != nil {
			return nil, fmt.Errorf("the %s sync rule no longer compiles: %s", list[i].Class, portal.ErrorMessage(err))
		}
		if c.Class == ObjectUser {
			rs.users = c
		} else {
			rs.group = c
		}
	}
	return rs, nil
}

// changeSet is what one sync writes.
type changeSet struct {
	joins []*CSObject // newly joined (PersonID or GroupID set)
	// joinedInPlace counts the objects a set-based sync joined itself
	// (pushsync.go): written already, yet references may now resolve.
	joinedInPlace int
	disconnect    []int64 // cs objects whose join ends
	// deprovisioned are objects out of scope with nothing to export: their
	// time to deletion starts.
	deprovisioned []int64
	returned      []int64          // deprovisioned objects back in scope
	newCS         []*CSObject      // planned adds, with pending[i] for each
	newPending    []*PendingExport // one per newCS
	stream        *plannedStream   // writes newCS as they come; nil in a preview
	names         *dnClaims        // the DNs taken, so that two objects never get one
	dropCS        []int64          // planned adds no longer wanted
	pending       []*PendingExport // for existing cs objects
	clear         []int64          // cs objects with nothing to export
	inbound       []inboundChange
	refs          []refChange // inbound flows to reference attributes
	refDN         *refDNs     // people's DNs in the system, for reference flows out
	imported      []int64     // objects whose imported changes this sync took in
	projected     []projection
	// projectedGroups are the portal groups to create from unjoined
	// group objects (a brownfield domain's groups).
	projectedGroups []groupProjection
	previews        []Preview
	// anchors are the people's accounts' anchors in the system named as
	// the source anchor (an Entra system's AD): a person is provisioned
	// only once theirs exists. nil: the system names none.
	anchors map[string]string
}

// inboundChange sets a person's attribute from a connected system.
type inboundChange struct {
	PersonID, Attr, Value string
	Precedence            int
	// attribute is Attr's definition in the live schema: a core column or
	// an extra attribute (people.extra).
	attribute *portal.Attribute
}

// Preview is what a sync would do to one object of one connected system.
type Preview struct {
	SystemName string
	DN         string
	Action     string // provision, update, rename, move, deprovision, join, unchanged, out of scope, error
	Changes    []string
	Inbound    []string
}

type source struct {
	system     string
	precedence int
}

// syncRun is a full sync (sc.all) or a sync of the objects in sc.
func (e *Engine) syncRun(ctx context.Context, sys *portal.ConnectedSystem, sc syncScope, rec *runRecord) error {
	_, err := e.syncObjects(ctx, sys, sc, rec)
	return err
}

func (e *Engine) syncObjects(ctx context.Context, sys *portal.ConnectedSystem, sc syncScope, rec *runRecord) (*changeSet, error) {
	rs, err := e.loadRules(ctx, e.Pool, sys.ID)
	if err != nil {
		return nil, err
	}
	if rs.users == nil && rs.group == nil {
		return nil, portal.Errorf(portal.ECONFLICT, "%s has no sync rules yet: add one for users or groups first.", sys.Name)
	}
	objs, err := e.loadCS(ctx, sys.ID, sc)
	if err != nil {
		return nil, err
	}
	byPerson, byGroup := map[string]*CSObject{}, map[string]*CSObject{}
	var unjoinedUsers, unjoinedGroups []*CSObject
	for _, o := range objs {
		switch {
		case o.PersonID != "":
			byPerson[o.PersonID] = o
		case o.GroupID != "":
			byGroup[o.GroupID] = o
		case o.Anchor == "":
		case o.Class == ObjectUser:
			unjoinedUsers = append(unjoinedUsers, o)
		default:
			unjoinedGroups = append(unjoinedGroups, o)
		}
	}
	sources, err := e.loadSources(ctx, sys.ID, sc, rs.users)
	if err != nil {
		return nil, err
	}
	out := &changeSet{names: newDNClaims(ctx, e, sys.ID, objs, sc.all), refDN: newRefDNs(ctx, e, sys.ID, byPerson, sc.all)}
	if out.anchors, err = e.loadSourceAnchors(ctx, sys, sc); err != nil {
		return nil, err
	}
	var tx pgx.Tx
	begin := func() error {
		if tx, err = e.Pool.Begin(ctx); err != nil {
			return err
		}
		return nil
	}
	defer func() {
		if tx != nil {
			tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit: nothing to roll back
		}
	}()
	if !sc.dryRun && sc.all {
		// A full sync's transaction opens first: new objects stream into
		// it by COPY while the rest is computed, so Postgres and the
		// engine work at once (forEachPerson and forEachGroup read on
		// sessions of their own meanwhile). A partial one opens it once it has read what it
		// needs: it never holds a connection while it waits for another.
		if err := begin(); err != nil {
			return nil, err
		}
		if out.stream, err = startPlanned(ctx, tx, sys.ID); err != nil {
			return nil, err
		}
		defer out.stream.finish(true) //nolint:errcheck // after a normal finish: nothing left to stop
	}
	now := e.now()
	if rs.users != nil {
		j := newJoiner(rs.users.JoinRules, unjoinedUsers)
		seen := map[string]bool{}
		err := e.forEachPerson(ctx, sc, func(p *portal.Person) error {
			seen[p.ID] = true
			e.syncPerson(sys, rs.users, p, byPerson, j, sources, out, rec, now, sc.dryRun)
			rec.progress(ctx, 1)
			return nil
		})
		if err != nil {
			return nil, err
		}
		if sc.all {
			// Joined to a person who is no longer in the metaverse.
			for pid, cs := range byPerson {
				if !seen[pid] {
					deprovisionOrphan(rs.users, cs, out, rec, now)
				}
			}
		}
		if rs.users.Projection {
			for _, cs := range unjoinedUsers {
				if cs.PersonID == "" {
					project(rs.users, cs, out, rec)
				}
			}
		}
		// A partial sync knows only its own people: the members of its
		// groups come from the connector space.
		if !sc.all && rs.group != nil && len(sc.groups) > 0 {
			if err := e.loadMemberObjects(ctx, sys.ID, sc.groups, byPerson); err != nil {
				return nil, err
			}
		}
	}
	if rs.group != nil {
		j := newJoiner(rs.group.JoinRules, unjoinedGroups)
		seen := map[string]bool{}
		err := e.forEachGroup(ctx, sc, func(g *mvGroup) error {
			seen[g.ID] = true
			if g.PortalOnly {
				return nil
			}
			e.syncGroup(rs.group, g, byGroup, byPerson, j, out, rec, now)
			rec.progress(ctx, 1)
			return nil
		})
		if err != nil {
			return nil, err
		}
		// Joined to a group that is no longer in the metaverse: a partial
		// sync holds only the objects of its own groups, so one deleted in
		// the portal (its request names it) is deprovisioned at once.
		for gid, cs := range byGroup {
			if !seen[gid] {
				deprovisionOrphan(rs.group, cs, out, rec, now)
			}
		}
		if rs.group.Projection {
			for _, cs := range unjoinedGroups {
				if cs.GroupID == "" {
					projectGroup(cs, out, rec)
				}
			}
		}
	}
	if sc.dryRun {
		return out, nil
	}
	if tx == nil {
		if err := begin(); err != nil {
			return nil, err
		}
	}
	if out.stream == nil && len(out.newCS) > 0 {
		// A small sync writes its new objects now, in one COPY too.
		if out.stream, err = startPlanned(ctx, tx, sys.ID); err != nil {
			return nil, err
		}
		for i, o := range out.newCS {
			out.stream.add(o, out.newPending[i])
		}
	}
	if err := out.stream.finish(false); err != nil {
		return nil, fmt.Errorf("syncsvc: write new objects: %w", err)
	}
	if err := e.writeChanges(ctx, tx, sys, sc, out); err != nil {
		return nil, fmt.Errorf("syncsvc: write sync results: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("syncsvc: write sync results: %w", err)
	}
	return out, nil
}

// joiner finds unjoined connector space objects by the join rules.
type joiner struct {
	rules []JoinRule
	index []map[string][]*CSObject // per rule: folded value → objects
}

func newJoiner(jr []JoinRule, unjoined []*CSObject) *joiner {
	j := &joiner{rules: jr, index: make([]map[string][]*CSObject, len(jr))}
	for i, r := range jr {
		j.index[i] = map[string][]*CSObject{}
		for _, o := range unjoined {
			if v := fold(o.first(r.CS)); v != "" {
				j.index[i][v] = append(j.index[i][v], o)
			}
		}
	}
	return j
}

// find returns the object value joins to, trying the rules in order;
// value gives the metaverse object's value for the rule at index i. Two
// candidates by the first rule that finds any is a conflict.
func (j *joiner) find(value func(i int) string) (*CSObject, error) {
	for i, r := range j.rules {
		v := fold(value(i))
		if v == "" {
			continue
		}
		var free []*CSObject
		for _, o := range j.index[i][v] {
			if o.PersonID == "" && o.GroupID == "" {
				free = append(free, o)
			}
		}
		switch len(free) {
		case 0:
			continue
		case 1:
			return free[0], nil
		}
		dns := make([]string, len(free))
		for k, o := range free {
			dns[k] = o.DN
		}
		return nil, fmt.Errorf("%s %q matches %d objects (%s): join one by hand or correct the data", r.CS, value(i), len(free), strings.Join(dns, "; "))
	}
	return nil, nil
}

func countKind(pe *PendingExport) string {
	switch {
	case pe.Op == ExportAdd:
		return "add"
	case pe.Op == ExportDelete:
		return "delete"
	case pe.NewDN != "":
		_, a := SplitDN(pe.DN)
		_, b := SplitDN(pe.NewDN)
		if SameDN(a, b) {
			return "rename"
		}
		return "move"
	}
	return "update"
}

func (e *Engine) syncPerson(sys *portal.ConnectedSystem, r *compiledRule, p *portal.Person, byPerson map[string]*CSObject,
	j *joiner, sources map[string]source, out *changeSet, rec *runRecord, now time.Time, dry bool) {
	preview := Preview{SystemName: sys.Name}
	fail := func(dn string, err error) {
		rec.count("error", dn, portal.Textf("%s: %s", p.DisplayName, portal.ReasonOr(err)))
		preview.Action, preview.Changes = "error", []string{err.Error()}
		out.preview(preview, dry)
	}
	cs := byPerson[p.ID]
	if cs == nil {
		found, err := j.find(func(i int) string { return r.joinAttrs[i].Text(p) })
		if err != nil {
			fail(p.DisplayName, err)
			return
		}
		if found != nil {
			found.PersonID = p.ID
			byPerson[p.ID] = found
			cs = found
			out.joins = append(out.joins, found)
			rec.count("join", found.DN, portal.Textf("%s", p.DisplayName))
			preview.Inbound = append(preview.Inbound, "joins "+found.DN)
		}
	}
	in, err := r.inScopeUser(p)
	if err != nil {
		fail(p.DisplayName, err)
		return
	}
	// Inbound flows carry what an import brought since the last sync; a
	// value the system has had all along must not undo a newer change
	// made in the portal.
	if cs != nil && cs.PendingImport {
		out.imported = append(out.imported, cs.ID)
	}
	if cs != nil && cs.Anchor != "" && cs.PendingImport && len(r.Inbound) > 0 {
		vals, err := r.inboundValues(cs)
		if err != nil {
			fail(cs.DN, err)
			return
		}
		for i, f := range r.Inbound {
			if !r.inboundChanged(i, cs) {
				continue
			}
			v, a := vals[f.MV], r.inboundAttrs[i]
			if s, ok := sources[p.ID+"\x00"+f.MV]; ok && s.system != sys.ID && s.precedence < f.Precedence {
				continue // a system with a higher precedence holds it
			}
			if a.Type == portal.TypeReference {
				// The value names the other person in this system: it is
				// resolved when the sync's results are written, or when
				// that person arrives.
				out.refs = append(out.refs, refChange{csID: cs.ID, attr: f.MV, target: v, precedence: f.Precedence})
				preview.Inbound = append(preview.Inbound, fmt.Sprintf("%s = the person at %q", f.MV, v))
				continue
			}
			if a.Type == portal.TypeBool {
				b, err := strconv.ParseBool(v)
				if err != nil {
					fail(cs.DN, portal.Errorf(portal.EINVALID, "inbound flow to %s gave %q, not true or false", f.MV, v))
					return
				}
				v = strconv.FormatBool(b)
			}
			if !a.Core() {
				// An extra attribute's value is checked as a request's is:
				// a number, a date, a length limit.
				if v, err = a.CheckValue(v); err != nil {
					fail(cs.DN, portal.Errorf(portal.EINVALID, "inbound flow to %s: %s", f.MV, portal.Reason(err)))
					return
				}
			}
			if v == a.Text(p) {
				continue
			}
			out.inbound = append(out.inbound, inboundChange{p.ID, f.MV, v, f.Precedence, a})
			preview.Inbound = append(preview.Inbound, fmt.Sprintf("%s = %q (was %q)", f.MV, v, a.Text(p)))
			if !dry {
				a.SetText(p, v)
			}
		}
	}
	var pe *PendingExport
	switch {
	case cs == nil && !(in && r.Provision):
		preview.Action = "out of scope"
		if in {
			preview.Action = "not provisioned (provisioning is off)"
		}
	case cs == nil || cs.Anchor == "":
		if !in {
			out.dropCS = append(out.dropCS, cs.ID)
			preview.Action = "out of scope"
			break
		}
		var anchor string
		if out.anchors != nil {
			// A cross-system dependency, not a wait: the add is planned by
			// the first sync after the anchor system has the account
			// (ExportRequest syncs that system first).
			if anchor = out.anchors[p.ID]; anchor == "" {
				preview.Action = "waits for its account in the source anchor system"
				out.preview(preview, dry)
				return
			}
		}
		pe, err = r.addUser(p, out.refDN.dn)
		if err != nil {
			fail(p.DisplayName, err)
			return
		}
		if anchor != "" {
			pe.Changes = append(pe.Changes, AttributeChange{Op: AttributeReplace, Name: SourceAnchorAttribute, Values: []string{anchor}})
		}
		var own int64
		if cs != nil {
			own = cs.ID
		}
		pe.DN = out.names.claim(pe.DN, p.AccountName, own)
		if cs == nil {
			cs = &CSObject{Class: ObjectUser, DN: pe.DN, PersonID: p.ID, Attrs: map[string][]string{}}
			byPerson[p.ID] = cs
			out.plan(cs, pe)
		} else {
			pe.CSID, cs.DN = cs.ID, pe.DN
			out.pending = append(out.pending, pe)
		}
	case in:
		if cs.Deprovisioned != nil {
			// Back in scope: no longer on its way to deletion, and its
			// account may be enabled again.
			out.returned = append(out.returned, cs.ID)
			cs.Deprovisioned = nil
		}
		if pe, err = r.diffUser(p, cs, out.refDN.dn); err != nil {
			fail(cs.DN, err)
			return
		}
		if pe.NewDN != "" {
			if pe.NewDN = out.names.claim(pe.NewDN, p.AccountName, cs.ID); SameDN(pe.NewDN, cs.DN) {
				pe.NewDN = "" // where it is already, under its distinct name
			}
		}
		if pe.empty() {
			out.clear = append(out.clear, cs.ID)
			rec.count("unchanged", cs.DN, portal.Text{})
			preview.DN, preview.Action = cs.DN, "unchanged"
			out.preview(preview, dry)
			return
		}
		out.pending = append(out.pending, pe)
	default:
		pe = r.deprovision(cs, now)
		switch {
		case pe != nil && pe.empty():
			// Disabled and where it belongs already: it stays joined,
			// and its time to deletion starts now.
			out.deprovisioned = append(out.deprovisioned, cs.ID)
			out.clear = append(out.clear, cs.ID)
			preview.DN, preview.Action = cs.DN, "deprovisioned already"
			out.preview(preview, dry)
			return
		case pe == nil:
			out.disconnect = append(out.disconnect, cs.ID)
			out.clear = append(out.clear, cs.ID)
			preview.DN, preview.Action = cs.DN, "disconnect (left the scope)"
			out.preview(preview, dry)
			return
		}
		out.pending = append(out.pending, pe)
	}
	if pe != nil {
		kind := countKind(pe)
		rec.count(kind, pe.DN, pe.SummaryText())
		preview.DN, preview.Action = pe.DN, kind
		if pe.Deprovision {
			preview.Action = "deprovision (" + kind + ")"
		}
		if dry {
			if pe.NewDN != "" {
				preview.Changes = append(preview.Changes, "DN → "+pe.NewDN)
			}
			for _, c := range pe.Changes {
				preview.Changes = append(preview.Changes, c.String())
			}
		}
	}
	out.preview(preview, dry)
}

// preview keeps what a dry run (a preview, Provision now) shows of one
// person; a real sync keeps none (a full sync would keep 100,000).
func (c *changeSet) preview(p Preview, dry bool) {
	if dry {
		c.previews = append(c.previews, p)
	}
}

func (e *Engine) syncGroup(r *compiledRule, g *mvGroup, byGroup, byPerson map[string]*CSObject, j *joiner, out *changeSet,
	rec *runRecord, now time.Time) {
	name := g.Fields["displayName"]
	cs := byGroup[g.ID]
	if cs == nil {
		found, err := j.find(func(i int) string { return g.Fields[r.JoinRules[i].MV] })
		if err != nil {
			rec.count("error", name, portal.ReasonOr(err))
			return
		}
		if found != nil {
			found.GroupID = g.ID
			cs = found
			out.joins = append(out.joins, found)
			rec.count("join", found.DN, portal.Textf("%s", name))
		}
	}
	in, err := r.inScopeGroup(g)
	if err != nil {
		rec.count("error", name, portal.ReasonOr(err))
		return
	}
	var members []string
	for _, pid := range g.Members {
		if m := byPerson[pid]; m != nil && m.Deprovisioned == nil {
			members = append(members, m.DN)
		}
	}
	var pe *PendingExport
	switch {
	case cs == nil && !(in && r.Provision):
		return
	case cs == nil || cs.Anchor == "":
		if !in {
			out.dropCS = append(out.dropCS, cs.ID)
			return
		}
		if pe, err = r.addGroup(g, members); err != nil {
			rec.count("error", name, portal.ReasonOr(err))
			return
		}
		if cs == nil {
			cs = &CSObject{Class: ObjectGroup, DN: pe.DN, GroupID: g.ID, Attrs: map[string][]string{}}
			byGroup[g.ID] = cs
			out.plan(cs, pe)
		} else {
			pe.CSID, cs.DN = cs.ID, pe.DN
			out.pending = append(out.pending, pe)
		}
	case in:
		if pe, err = r.diffGroup(g, cs, members); err != nil {
			rec.count("error", cs.DN, portal.ReasonOr(err))
			return
		}
		if pe.empty() {
			out.clear = append(out.clear, cs.ID)
			rec.count("unchanged", cs.DN, portal.Text{})
			return
		}
		out.pending = append(out.pending, pe)
	default:
		if pe = r.deprovision(cs, now); pe == nil {
			out.disconnect = append(out.disconnect, cs.ID)
			out.clear = append(out.clear, cs.ID)
			return
		}
		out.pending = append(out.pending, pe)
	}
	rec.count(countKind(pe), pe.DN, pe.SummaryText())
}

// dnClaims are the DNs of a system's objects, so that provisioning and
// renames never give two objects one DN: two people both named Emma Brown
// in Finance get CN=Emma Brown and CN=Emma Brown (ebrown2).
type dnClaims struct {
	ctx      context.Context
	e        *Engine
	systemID string
	all      bool             // taken holds every object of the system
	taken    map[string]int64 // folded DN → object ID (0: planned in this sync)
	byOwner  map[int64]string // object ID → its folded DN
}

func newDNClaims(ctx context.Context, e *Engine, systemID string, objs []*CSObject, all bool) *dnClaims {
	c := &dnClaims{ctx: ctx, e: e, systemID: systemID, all: all, taken: make(map[string]int64, len(objs)),
		byOwner: make(map[int64]string, len(objs))}
	for _, o := range objs {
		c.taken[fold(o.DN)] = o.ID
		c.byOwner[o.ID] = fold(o.DN)
	}
	return c
}

// free reports whether dn is free for the object own (0: a new one).
func (c *dnClaims) free(dn string, own int64) bool {
	if id, ok := c.taken[fold(dn)]; ok {
		return id == own && own != 0
	}
	if c.all {
		return true
	}
	var id int64
	err := c.e.Pool.QueryRow(c.ctx, "SELECT id FROM cs_objects WHERE system_id = $1 AND lower(dn) = lower($2)", c.systemID, dn).Scan(&id)
	return err != nil || id == own && own != 0
}

// claim returns dn, or when another object holds it, dn with the account
// name (then a number) added to its first RDN value; the DN returned is
// taken for own from then on.
func (c *dnClaims) claim(dn, account string, own int64) string {
	got := dn
	if !c.free(dn, own) {
		rdn, parent := SplitDN(dn)
		attr, _, _ := strings.Cut(rdn, "=")
		value, err := RDNValue(dn)
		if err == nil {
			for n := 1; n < 100; n++ {
				suffix := " (" + account + ")"
				if n > 1 {
					suffix = fmt.Sprintf(" (%s %d)", account, n)
				}
				got = ChildDN(attr, value+suffix, parent)
				if c.free(got, own) {
					break
				}
			}
		}
	}
	if own != 0 {
		if old, ok := c.byOwner[own]; ok && old != fold(got) && c.taken[old] == own {
			delete(c.taken, old) // its old name is free again
		}
		c.byOwner[own] = fold(got)
	}
	c.taken[fold(got)] = own
	return got
}

// projection is a person to create in the metaverse from an unjoined
// connector space object (MIM's projection), joined to it.
type projection struct {
	cs      *CSObject
	account string
	values  map[string]string // person attribute → value
	// extras are the values of extra attributes (people.extra), set by
	// applyInbound once the person exists.
	extras []inboundChange
}

// project plans the projection of cs: its account name is sAMAccountName,
// its employee ID employeeID, its display name displayName (or its name),
// and the rule's inbound flows give the rest.
func project(r *compiledRule, cs *CSObject, out *changeSet, rec *runRecord) {
	account := cs.first("sAMAccountName")
	if account == "" {
		account = cs.first("accountName") // a source that is not a directory, such as HR, names it so
	}
	if account == "" || len(account) > 64 {
		rec.count("error", cs.DN, portal.Textf("cannot project it into the metaverse: it has no usable sAMAccountName"))
		return
	}
	values, err := r.inboundValues(cs)
	if err != nil {
		rec.count("error", cs.DN, portal.ReasonOr(err))
		return
	}
	var extras []inboundChange
	for i, f := range r.Inbound {
		a := r.inboundAttrs[i]
		switch {
		case a.Type == portal.TypeReference:
			// Written once the person exists and the reference resolves.
			out.refs = append(out.refs, refChange{csID: cs.ID, attr: f.MV, target: values[f.MV], precedence: f.Precedence})
			delete(values, f.MV)
		case !a.Core():
			v, err := a.CheckValue(values[f.MV])
			if err != nil {
				rec.count("error", cs.DN, portal.Textf("cannot project it into the metaverse: inbound flow to %s: %s", f.MV, portal.Reason(err)))
				return
			}
			if v != "" {
				extras = append(extras, inboundChange{Attr: f.MV, Value: v, Precedence: f.Precedence, attribute: a})
			}
			delete(values, f.MV)
		}
	}
	if values["displayName"] == "" {
		values["displayName"] = cs.first("displayName")
	}
	if values["displayName"] == "" {
		values["displayName"], _ = RDNValue(cs.DN)
	}
	values["employeeId"] = cs.first("employeeID")
	cs.PersonID = "projected"
	out.projected = append(out.projected, projection{cs: cs, account: account, values: values, extras: extras})
	rec.count("add", cs.DN, portal.Textf("projected into the metaverse as %s", values["displayName"]))
}

// writeProjections creates the projected people and joins them, and
// returns their IDs. People with the same attributes set are inserted by
// one statement, which leaves out those whose account name or employee
// ID another person has; only when such a statement fails otherwise are
// its people created one by one, each in a savepoint, so that the one
// that cannot be created is reported and the others still are.
func writeProjections(ctx context.Context, tx pgx.Tx, sys *portal.ConnectedSystem, list []projection) ([]string, error) {
	type group struct {
		cols []*portal.Attribute
		list []projection
	}
	groups := map[string]*group{}
	var keys []string
	for _, pr := range list {
		var cols []*portal.Attribute
		for _, attr := range slices.Sorted(maps.Keys(pr.values)) {
			a, ok := portal.CoreSchema().Lookup(attr)
			if !ok || !a.Core() || a.Name == "accountName" || pr.values[attr] == "" && !a.Required {
				continue
			}
			cols = append(cols, a)
		}
		key := ""
		for _, a := range cols {
			key += a.Name + "\x00"
		}
		if groups[key] == nil {
			groups[key] = &group{cols: cols}
			keys = append(keys, key)
		}
		groups[key].list = append(groups[key].list, pr)
	}
	var created, auditIDs, auditDetails []string
	var joinIDs []int64
	var joinPeople []string
	var refusedIDs []int64
	var refusedWhy []string
	for _, key := range keys {
		g := groups[key]
		// Only the table's column names reach the SQL text.
		cols, casts, args := []string{"account_name"}, []string{"$1::text[]"}, []any{nil}
		accounts := make([]string, len(g.list))
		for i, pr := range g.list {
			accounts[i] = pr.account
		}
		args[0] = accounts
		for _, a := range g.cols {
			values := make([]*string, len(g.list))
			for i, pr := range g.list {
				if v, ok := columnValue(a, pr.values[a.Name]).(string); ok {
					values[i] = &v
				} else if b, ok := columnValue(a, pr.values[a.Name]).(bool); ok {
					t := strconv.FormatBool(b)
					values[i] = &t
				}
			}
			args = append(args, values)
			cast := fmt.Sprintf("$%d::text[]", len(args))
			cols, casts = append(cols, pgx.Identifier{a.Column}.Sanitize()), append(casts, cast)
		}
		names, sel := make([]string, len(cols)), make([]string, len(cols))
		for i := range cols {
			names[i] = fmt.Sprintf("c%d", i)
			sel[i] = names[i]
			if i > 0 && g.cols[i-1].Type == portal.TypeBool {
				sel[i] += "::boolean"
			}
		}
		sp, err := tx.Begin(ctx)
		if err != nil {
			return nil, err
		}
		rows, err := sp.Query(ctx, "INSERT INTO people ("+strings.Join(cols, ", ")+") SELECT "+strings.Join(sel, ", ")+
			" FROM unnest("+strings.Join(casts, ", ")+") WITH ORDINALITY AS v("+strings.Join(names, ", ")+", n) ORDER BY n"+
			" ON CONFLICT DO NOTHING RETURNING id::text, lower(account_name)", args...)
		byAccount := map[string]string{}
		if err == nil {
			var id, account string
			_, err = pgx.ForEachRow(rows, []any{&id, &account}, func() error {
				byAccount[account] = id
				return nil
			})
		}
		if err != nil {
			// A value the table refuses: each person on their own.
			if rerr := sp.Rollback(ctx); rerr != nil {
				return nil, fmt.Errorf("syncsvc: project people: %w (and rolling back: %w)", err, rerr)
			}
			one, err := projectOneByOne(ctx, tx, sys, g.list)
			if err != nil {
				return nil, err
			}
			created = append(created, one...)
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return nil, err
		}
		for _, pr := range g.list {
			id, ok := byAccount[strings.ToLower(pr.account)]
			if !ok {
				refusedIDs = append(refusedIDs, pr.cs.ID)
				refusedWhy = append(refusedWhy, fmt.Sprintf("cannot project it into the metaverse: another person has the account name %q "+
					"or the employee ID %q already", pr.account, pr.values["employeeId"]))
				continue
			}
			delete(byAccount, strings.ToLower(pr.account)) // a second row of the same name was left out
			details, err := json.Marshal(map[string]any{"system": sys.Name, "dn": pr.cs.DN, "account_name": pr.account})
			if err != nil {
				return nil, err
			}
			pr.cs.PersonID = id
			created, joinIDs, joinPeople = append(created, id), append(joinIDs, pr.cs.ID), append(joinPeople, id)
			auditIDs, auditDetails = append(auditIDs, id), append(auditDetails, string(details))
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE cs_objects c SET join_error = r.why FROM unnest($1::bigint[], $2::text[]) AS r(id, why)
		WHERE c.id = r.id`, refusedIDs, refusedWhy); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE cs_objects c SET person_id = j.p, join_error = '' FROM unnest($1::bigint[], $2::uuid[]) AS j(id, p)
		WHERE c.id = j.id`, joinIDs, joinPeople); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `SELECT audit_append(NULL, 'sync_projection', 'person', a.id, a.details::jsonb)
		FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS a(id, details, n) ORDER BY a.n`, auditIDs, auditDetails); err != nil {
		return nil, err
	}
	return created, nil
}

// projectOneByOne creates projected people one by one, each in a
// savepoint: one that cannot be created (an account name taken, a value
// the table refuses) is reported, and the others still are.
func projectOneByOne(ctx context.Context, tx pgx.Tx, sys *portal.ConnectedSystem, list []projection) ([]string, error) {
	var created []string
	for _, pr := range list {
		cols, args := []string{"account_name"}, []any{pr.account}
		for attr, v := range pr.values {
			// Only the table's column names reach the SQL text.
			a, ok := portal.CoreSchema().Lookup(attr)
			if !ok || !a.Core() || a.Name == "accountName" || v == "" && !a.Required {
				continue
			}
			cols = append(cols, pgx.Identifier{a.Column}.Sanitize())
			args = append(args, columnValue(a, v))
		}
		ph := make([]string, len(args))
		for i := range args {
			ph[i] = fmt.Sprintf("$%d", i+1)
		}
		var id string
		// A savepoint per person: one that cannot be created (an account
		// name taken) is reported, and the others still are.
		sp, err := tx.Begin(ctx)
		if err != nil {
			return nil, err
		}
		err = sp.QueryRow(ctx, "INSERT INTO people ("+strings.Join(cols, ", ")+") VALUES ("+strings.Join(ph, ", ")+") RETURNING id",
			args...).Scan(&id)
		if err != nil {
			// The savepoint's own error is the one to report; the join
			// error is how the administrator learns of it.
			if rerr := sp.Rollback(ctx); rerr != nil {
				return nil, fmt.Errorf("syncsvc: project %s: %w (and rolling back: %w)", pr.cs.DN, err, rerr)
			}
			if _, werr := tx.Exec(ctx, "UPDATE cs_objects SET join_error = $2 WHERE id = $1", pr.cs.ID,
				"cannot project it into the metaverse: "+err.Error()); werr != nil {
				return nil, fmt.Errorf("syncsvc: record why %s was not projected (%w): %w", pr.cs.DN, err, werr)
			}
			continue
		}
		if _, err := sp.Exec(ctx, "UPDATE cs_objects SET person_id = $2, join_error = '' WHERE id = $1", pr.cs.ID, id); err != nil {
			return nil, err
		}
		if _, err := sp.Exec(ctx, "SELECT audit_append(NULL, 'sync_projection', 'person', $1, $2)", id,
			map[string]any{"system": sys.Name, "dn": pr.cs.DN, "account_name": pr.account}); err != nil {
			return nil, err
		}
		if err := sp.Commit(ctx); err != nil {
			return nil, err
		}
		pr.cs.PersonID = id
		created = append(created, id)
	}
	return created, nil
}

// deprovisionOrphan handles an object joined to a metaverse object that
// was deleted: deprovisioned by the rule, or disconnected.
func deprovisionOrphan(r *compiledRule, cs *CSObject, out *changeSet, rec *runRecord, now time.Time) {
	if cs.Anchor == "" {
		out.dropCS = append(out.dropCS, cs.ID)
		return
	}
	pe := r.deprovision(cs, now)
	switch {
	case pe != nil && pe.empty():
		out.deprovisioned = append(out.deprovisioned, cs.ID)
		out.clear = append(out.clear, cs.ID)
		return
	case pe == nil:
		out.disconnect = append(out.disconnect, cs.ID)
		out.clear = append(out.clear, cs.ID)
		return
	}
	out.pending = append(out.pending, pe)
	rec.count(countKind(pe), pe.DN, portal.Textf("deleted in the portal: %s", pe.SummaryText()))
}

const csSelect = `SELECT id, coalesce(anchor, ''), dn, class, attributes, coalesce(person_id::text, ''),
	coalesce(group_id::text, ''), join_error, deprovisioned_at, pending_import, changed_attrs FROM cs_objects`

func scanCS(row pgx.Row) (*CSObject, error) {
	o := &CSObject{}
	var attrs []byte
	if err := row.Scan(&o.ID, &o.Anchor, &o.DN, &o.Class, &attrs, &o.PersonID, &o.GroupID, &o.JoinError, &o.Deprovisioned,
		&o.PendingImport, &o.ChangedAttrs); err != nil {
		return nil, err
	}
	return o, json.Unmarshal(attrs, &o.Attrs)
}

// loadCS reads the connector space objects a sync needs: all of them, or
// those joined to the scope's objects and every unjoined one.
func (e *Engine) loadCS(ctx context.Context, systemID string, sc syncScope) ([]*CSObject, error) {
	sql, args := csSelect+" WHERE system_id = $1", []any{systemID}
	if !sc.all {
		sql += ` AND (person_id = ANY($2::uuid[]) OR group_id = ANY($3::uuid[]) OR (person_id IS NULL AND group_id IS NULL))`
		args = append(args, NonNil(sc.people), NonNil(sc.groups))
	}
	rows, err := e.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: connector space: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (*CSObject, error) { return scanCS(row) })
}

// SourceAnchorAttribute is the attribute of a user add that carries the
// person's anchor in the system's source anchor system (for Entra ID, the
// AD objectGUID that becomes onPremisesImmutableId).
const SourceAnchorAttribute = "sourceAnchor"

// loadSourceAnchors reads the anchors of the people in scope in the system
// that anchors sys's users, or returns nil when sys names none.
func (e *Engine) loadSourceAnchors(ctx context.Context, sys *portal.ConnectedSystem, sc syncScope) (map[string]string, error) {
	from := sys.Entra.AnchorSystemID
	if from == "" {
		return nil, nil
	}
	sql, args := `SELECT person_id::text, anchor FROM cs_objects WHERE system_id = $1 AND class = 'user'
		AND person_id IS NOT NULL AND anchor IS NOT NULL`, []any{from}
	if !sc.all {
		sql += " AND person_id = ANY($2::uuid[])"
		args = append(args, NonNil(sc.people))
	}
	rows, err := e.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: source anchors: %w", err)
	}
	anchors := map[string]string{}
	var pid, anchor string
	_, err = pgx.ForEachRow(rows, []any{&pid, &anchor}, func() error {
		anchors[pid] = anchor
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("syncsvc: source anchors: %w", err)
	}
	return anchors, nil
}

// loadMemberObjects adds to byPerson the connector space objects of the
// members of groups, with what a group's sync reads of them (their DN,
// whether the system has them, whether they are on their way out) and
// without their attributes: for a join to a group of 300 to 900 members,
// reading and decoding every member's attribute document took 3.6 to
// 11.3 ms of the 14 to 20 ms that planning the request took (1.6 to 2.4
// ms without).
func (e *Engine) loadMemberObjects(ctx context.Context, systemID string, groups []string, byPerson map[string]*CSObject) error {
	rows, err := e.Pool.Query(ctx, `SELECT id, coalesce(anchor, ''), dn, class, person_id::text, deprovisioned_at FROM cs_objects
		WHERE system_id = $1 AND person_id IN (SELECT person_id FROM group_members WHERE group_id = ANY($2::uuid[]))`, systemID, groups)
	if err != nil {
		return fmt.Errorf("syncsvc: member objects: %w", err)
	}
	objs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*CSObject, error) {
		o := &CSObject{Attrs: map[string][]string{}}
		return o, row.Scan(&o.ID, &o.Anchor, &o.DN, &o.Class, &o.PersonID, &o.Deprovisioned)
	})
	if err != nil {
		return fmt.Errorf("syncsvc: member objects: %w", err)
	}
	for _, o := range objs {
		if _, ok := byPerson[o.PersonID]; !ok {
			byPerson[o.PersonID] = o
		}
	}
	return nil
}

func (e *Engine) loadSources(ctx context.Context, systemID string, sc syncScope, users *compiledRule) (map[string]source, error) {
	out := map[string]source{}
	if users == nil || len(users.Inbound) == 0 {
		return out, nil
	}
	sql, args := `SELECT person_id, attribute, system_id, precedence FROM mv_attribute_sources`, []any{}
	if !sc.all {
		sql += ` WHERE person_id = ANY($1::uuid[])`
		args = append(args, NonNil(sc.people))
	}
	rows, err := e.Pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var pid, attr string
		var s source
		if err := rows.Scan(&pid, &attr, &s.system, &s.precedence); err != nil {
			return nil, err
		}
		out[pid+"\x00"+attr] = s
	}
	return out, rows.Err()
}

// forEachPerson streams the scope's people.
func (e *Engine) forEachPerson(ctx context.Context, sc syncScope, fn func(*portal.Person) error) error {
	if !sc.all {
		// A few people: read them first, so that no connection stays
		// busy while they are synced.
		if len(sc.people) == 0 {
			return nil
		}
		rows, err := e.Pool.Query(ctx, personSelect+" WHERE id = ANY($1::uuid[])", sc.people)
		if err != nil {
			return fmt.Errorf("syncsvc: people: %w", err)
		}
		people, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*portal.Person, error) { return scanMVPerson(row) })
		if err != nil {
			return fmt.Errorf("syncsvc: people: %w", err)
		}
		for _, p := range people {
			if err := fn(p); err != nil {
				return err
			}
		}
		return nil
	}
	// Everyone: one goroutine reads and decodes the rows while fn syncs
	// the people already read.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	people := make(chan *portal.Person, 1024)
	read := make(chan error, 1)
	go func() {
		defer close(people)
		// On a session of its own, not the pool's: a full sync streams
		// its new objects into its transaction meanwhile, and taking a
		// second pool connection while holding one waits forever once
		// every connection is held so.
		conn, err := e.connect(ctx, "tessera sync read")
		if err != nil {
			read <- fmt.Errorf("syncsvc: people: %w", err)
			return
		}
		defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the session ends either way
		rows, err := conn.Query(ctx, personSelect+" ORDER BY id")
		if err != nil {
			read <- fmt.Errorf("syncsvc: people: %w", err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			p, err := scanMVPerson(rows)
			if err != nil {
				read <- fmt.Errorf("syncsvc: people: %w", err)
				return
			}
			select {
			case people <- p:
			case <-ctx.Done():
				read <- ctx.Err()
				return
			}
		}
		read <- rows.Err()
	}()
	for p := range people {
		if err := fn(p); err != nil {
			cancel()
			for range people { // let the reader finish
			}
			return err
		}
	}
	return <-read
}

// forEachGroup streams the scope's groups with their members.
func (e *Engine) forEachGroup(ctx context.Context, sc syncScope, fn func(*mvGroup) error) error {
	if !sc.all {
		if len(sc.groups) == 0 {
			return nil
		}
		rows, err := e.Pool.Query(ctx, groupSelect+" WHERE g.id = ANY($1::uuid[])", sc.groups)
		if err != nil {
			return fmt.Errorf("syncsvc: groups: %w", err)
		}
		groups, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*mvGroup, error) { return scanMVGroup(row) })
		if err != nil {
			return fmt.Errorf("syncsvc: groups: %w", err)
		}
		for _, g := range groups {
			if err := fn(g); err != nil {
				return err
			}
		}
		return nil
	}
	// All groups: memberships in one pass, then the groups, on a session
	// of its own, as forEachPerson reads everyone.
	conn, err := e.connect(ctx, "tessera sync read")
	if err != nil {
		return fmt.Errorf("syncsvc: groups: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the session ends either way
	members := map[string][]string{}
	rows, err := conn.Query(ctx, "SELECT group_id::text, person_id::text FROM group_members")
	if err != nil {
		return fmt.Errorf("syncsvc: memberships: %w", err)
	}
	for rows.Next() {
		var g, p string
		if err := rows.Scan(&g, &p); err != nil {
			rows.Close()
			return err
		}
		members[g] = append(members[g], p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = conn.Query(ctx, `SELECT g.id, g.name, g.display_name, g.description, g.email, g.group_type, g.join_policy, `+portalOnlySQL+`
		FROM groups g ORDER BY g.id`)
	if err != nil {
		return fmt.Errorf("syncsvc: groups: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		g := &mvGroup{}
		var name, display, desc, email, typ, join string
		if err := rows.Scan(&g.ID, &name, &display, &desc, &email, &typ, &join, &g.PortalOnly); err != nil {
			return err
		}
		g.Fields = map[string]string{"name": name, "displayName": display, "description": desc, "email": email,
			"type": typ, "join": join}
		g.Members = members[g.ID]
		if err := fn(g); err != nil {
			return err
		}
	}
	return rows.Err()
}

// writeChanges stores a sync's results in one transaction.
func (e *Engine) writeChanges(ctx context.Context, tx pgx.Tx, sys *portal.ConnectedSystem, sc syncScope, out *changeSet) error {
	recompute := e.Dynamic != nil && len(out.projected)+len(out.inbound)+len(out.refs)+len(out.joins)+out.joinedInPlace > 0
	if recompute {
		if err := e.Dynamic.HoldDynamicRules(ctx, tx); err != nil {
			return err
		}
	}
	return func() error {
		if len(out.deprovisioned) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE cs_objects SET deprovisioned_at = $2 WHERE id = ANY($1) AND deprovisioned_at IS NULL`,
				out.deprovisioned, e.now()); err != nil {
				return err
			}
		}
		if len(out.returned) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE cs_objects SET deprovisioned_at = NULL WHERE id = ANY($1)`, out.returned); err != nil {
				return err
			}
		}
		if len(out.disconnect) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE cs_objects SET person_id = NULL, group_id = NULL WHERE id = ANY($1)`, out.disconnect); err != nil {
				return err
			}
		}
		if len(out.joins) > 0 {
			ids, people, groups := make([]int64, len(out.joins)), make([]*string, len(out.joins)), make([]*string, len(out.joins))
			for i, o := range out.joins {
				ids[i] = o.ID
				if o.PersonID != "" {
					people[i] = &o.PersonID
				}
				if o.GroupID != "" {
					groups[i] = &o.GroupID
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE cs_objects c SET person_id = j.p, group_id = j.g, join_error = ''
				FROM unnest($1::bigint[], $2::uuid[], $3::uuid[]) AS j(id, p, g) WHERE c.id = j.id`, ids, people, groups); err != nil {
				return err
			}
		}
		if len(out.dropCS) > 0 {
			// Adds never sent: the requests waiting on them have nothing
			// left to wait for.
			if err := e.Requests.ExportsDroppedTx(ctx, tx, sys.Name, out.dropCS, ""); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM cs_objects WHERE id = ANY($1) AND anchor IS NULL`, out.dropCS); err != nil {
				return err
			}
		}
		if len(out.pending) > 0 {
			if err := upsertPending(ctx, tx, sys.ID, out.pending); err != nil {
				return err
			}
		}
		if err := linkRequests(ctx, tx, sys.ID, sc.requests, out); err != nil {
			return err
		}
		if len(out.clear) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE cs_objects SET export_op = NULL, export_changes = NULL, export_new_dn = '',
				export_status = 'pending', export_attempts = 0, export_error = '', export_error_text = NULL
				WHERE id = ANY($1) AND export_op IS NOT NULL`, out.clear); err != nil {
				return err
			}
			// Nothing to export for them any more: the requests not yet
			// sent are released.
			if err := e.Requests.ExportsDroppedTx(ctx, tx, sys.Name, out.clear, ""); err != nil {
				return err
			}
		}
		if len(out.imported) > 0 {
			if _, err := tx.Exec(ctx, "UPDATE cs_objects SET pending_import = false, changed_attrs = '{}' WHERE id = ANY($1)", out.imported); err != nil {
				return err
			}
		}
		projected, err := writeProjections(ctx, tx, sys, out.projected)
		if err != nil {
			return err
		}
		// The extra attributes of the people just created are set as a
		// joined person's are.
		inbound := out.inbound
		for _, pr := range out.projected {
			if pr.cs.PersonID == "projected" {
				continue // not created
			}
			for _, c := range pr.extras {
				c.PersonID = pr.cs.PersonID
				inbound = append(inbound, c)
			}
		}
		changed, err := applyInbound(ctx, tx, sys, inbound)
		if err != nil {
			return err
		}
		if len(out.refs) > 0 || len(out.joins) > 0 || out.joinedInPlace > 0 || len(projected) > 0 {
			referred, err := applyReferences(ctx, tx, sys, out.refs)
			if err != nil {
				return err
			}
			changed = append(changed, referred...)
		}
		// After the people: a projected group's owner and members may be
		// people this sync projected or joined.
		if err := writeGroupProjections(ctx, tx, sys, out.projectedGroups); err != nil {
			return err
		}
		if !recompute {
			return nil
		}
		// Every person the sync created or changed, in one pass.
		return e.Dynamic.RecomputePeopleTx(ctx, tx, append(projected, changed...))
	}()
}

// plannedColumns are the columns a provisioning add writes.
var plannedColumns = []string{"system_id", "dn", "class", "person_id", "group_id", "export_op", "export_changes",
	"export_set_password", "export_enable", "export_next_at"}

// plannedStream COPYs the connector space objects of provisioning adds,
// with their pending exports, as the sync computes them.
type plannedStream struct {
	ch      chan []any
	result  chan error
	closed  bool
	aborted atomic.Bool
	system  pgtype.UUID
	now     time.Time
}

func startPlanned(ctx context.Context, tx pgx.Tx, systemID string) (*plannedStream, error) {
	s := &plannedStream{ch: make(chan []any, 4096), result: make(chan error, 1), system: uuidOrNull(systemID)}
	// The database's clock, as every other export time.
	if err := tx.QueryRow(ctx, "SELECT now()").Scan(&s.now); err != nil {
		return nil, err
	}
	go func() {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"cs_objects"}, plannedColumns, pgx.CopyFromFunc(func() ([]any, error) {
			row, ok := <-s.ch
			switch {
			case ok:
				return row, nil
			case s.aborted.Load():
				return nil, errors.New("the sync stopped")
			}
			return nil, nil
		}))
		s.result <- err
		for range s.ch { // a failed COPY must not block the sync
		}
	}()
	return s, nil
}

// add sends one new object and its pending export.
func (s *plannedStream) add(o *CSObject, p *PendingExport) {
	changes, _ := marshalChanges(p.Changes)
	s.ch <- []any{s.system, o.DN, string(o.Class), uuidOrNull(o.PersonID), uuidOrNull(o.GroupID), string(p.Op),
		[]byte(changes), p.SetPassword, p.Enable, s.now}
}

// finish ends the COPY (or, with abort, makes it fail) and returns its
// outcome.
func (s *plannedStream) finish(abort bool) error {
	if s == nil || s.closed {
		return nil
	}
	s.closed = true
	s.aborted.Store(abort)
	close(s.ch)
	return <-s.result
}

// plan records a provisioning add.
func (c *changeSet) plan(o *CSObject, p *PendingExport) {
	c.newCS = append(c.newCS, o)
	c.newPending = append(c.newPending, p)
	if c.stream != nil {
		c.stream.add(o, p)
	}
}

// linkRequests records which requests wait for the pending exports this
// sync wrote (out.pending) and the provisioning adds it planned
// (out.newCS): each request of the sync's scope waits for those of its
// own objects; every committed profile change of a person whose object
// has a pending export, and every committed membership request whose
// member a group's export adds or removes, waits for that export too,
// whichever sync computed it. The sync read the portal after those requests
// committed, so the export carries their change: a bulk decision's
// hundreds of joins, or joins approved one by one that one export of the
// group took along, each say "Exported" when the system confirms it.
//
// Each statement locks the requests it links (FOR SHARE, in ID order, as
// releaseExports in portal/postgres/requestlife.go locks them FOR
// UPDATE), and so reads their status as it is once it holds them: a
// request that another system's confirmation completed meanwhile is not
// linked (its confirmation here would write "exported" after
// "completed"), and a completion that waits for this transaction sees its
// links.
func linkRequests(ctx context.Context, tx pgx.Tx, systemID string, scope []requestLink, out *changeSet) error {
	var csIDs []int64
	var people, groups []string
	for _, p := range out.pending {
		csIDs = append(csIDs, p.CSID)
	}
	for _, o := range out.newCS {
		if o.PersonID != "" {
			people = append(people, o.PersonID)
		} else {
			groups = append(groups, o.GroupID)
		}
	}
	if len(csIDs)+len(people)+len(groups) == 0 {
		return nil
	}
	if len(scope) == 0 {
		// Most syncs carry no request, and usually no committed request
		// waits at all: then there is nothing to link, and a full sync
		// does not send the IDs of the 100,000 objects it planned to
		// look for them. (A request committed from now on is carried by
		// its own export job, which links it.)
		var waiting bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM requests WHERE status = 'committed')").Scan(&waiting); err != nil {
			return err
		}
		if !waiting {
			return nil
		}
	}
	b := &pgx.Batch{}
	// The objects this sync gave a pending export: existing ones by ID,
	// planned adds (no anchor yet) by their person or group.
	const exported = `(SELECT c.id, c.person_id, c.group_id, c.export_changes FROM cs_objects c WHERE c.system_id = $1
		AND c.export_op IS NOT NULL AND (c.id = ANY ($2::bigint[])
			OR c.anchor IS NULL AND (c.person_id = ANY ($3::uuid[]) OR c.group_id = ANY ($4::uuid[]))))`
	args := []any{systemID, NonNil(csIDs), NonNil(people), NonNil(groups)}
	if len(scope) > 0 {
		reqs, ps, gs := make([]string, len(scope)), make([]*string, len(scope)), make([]*string, len(scope))
		for i, l := range scope {
			reqs[i] = l.request
			if l.person != "" {
				ps[i] = &scope[i].person
			}
			if l.group != "" {
				gs[i] = &scope[i].group
			}
		}
		// A request synced again waits for the new export: its change may
		// not have been in the one it waited for.
		b.Queue(`WITH live AS MATERIALIZED (SELECT r.id FROM requests r WHERE r.id = ANY ($5::uuid[])
				AND r.status IN ('committed', 'failed') ORDER BY r.id FOR SHARE OF r)
			INSERT INTO export_requests (cs_id, request_id, system_id)
			SELECT DISTINCT x.id, s.request_id, $1 FROM `+exported+` x
				JOIN unnest($5::uuid[], $6::uuid[], $7::uuid[]) AS s(request_id, person_id, group_id)
				ON s.person_id = x.person_id OR s.group_id = x.group_id
			WHERE s.request_id IN (SELECT id FROM live)
			ON CONFLICT (cs_id, request_id) DO UPDATE SET sent_at = NULL`, append(args, reqs, ps, gs)...)
	}
	// A request that waits already (for an export sent, not yet
	// confirmed) keeps waiting for that one. Likewise every committed
	// profile change of a person whose object has a pending export: the
	// sync read the portal after it committed, so the export carries it,
	// whichever job (or cycle) computed the export.
	b.Queue(`INSERT INTO export_requests (cs_id, request_id, system_id)
		SELECT x.id, r.id, $1 FROM `+exported+` x
			JOIN requests r ON r.group_id IS NULL AND r.person_id = x.person_id AND r.status = 'committed'
				AND r.operation = 'update_person'
		ORDER BY r.id FOR SHARE OF r
		ON CONFLICT (cs_id, request_id) DO NOTHING`, args...)
	b.Queue(`WITH m AS (SELECT x.id, x.group_id, ch->>'Op' AS op, lower(v) AS dn
			FROM `+exported+` x, json_array_elements(x.export_changes) ch, json_array_elements_text(ch->'Values') v
			WHERE x.group_id IS NOT NULL AND ch->>'Name' = 'member' AND ch->>'Op' IN ('add', 'delete'))
		INSERT INTO export_requests (cs_id, request_id, system_id)
		SELECT m.id, r.id, $1 FROM m
			JOIN cs_objects p ON p.system_id = $1 AND lower(p.dn) = m.dn AND p.person_id IS NOT NULL
			JOIN requests r ON r.group_id = m.group_id AND r.person_id = p.person_id AND r.status = 'committed'
				AND r.operation = CASE m.op WHEN 'add' THEN 'add_member' ELSE 'remove_member' END
		ORDER BY r.id FOR SHARE OF r
		ON CONFLICT (cs_id, request_id) DO NOTHING`, args...)
	return tx.SendBatch(ctx, b).Close()
}

// uuidOrNull is id as COPY sends it best: binary, or NULL when empty.
// (A string would be tried as binary, fail, and be parsed again.)
func uuidOrNull(id string) pgtype.UUID {
	var u pgtype.UUID
	if id != "" {
		_ = u.Scan(id)
	}
	return u
}

// marshalChanges is the JSON of a pending export's changes, [] for none,
// as encoding/json writes it, without reflection: a full sync writes one
// per object.
func marshalChanges(c []AttributeChange) (string, error) {
	if len(c) == 0 {
		return "[]", nil
	}
	b := make([]byte, 0, 64*len(c))
	b = append(b, '[')
	for i, ch := range c {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Op":`...)
		b = AppendJSONString(b, string(ch.Op))
		b = append(b, `,"Name":`...)
		b = AppendJSONString(b, ch.Name)
		b = append(b, `,"Values":`...)
		if ch.Values == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for j, v := range ch.Values {
				if j > 0 {
					b = append(b, ',')
				}
				b = AppendJSONString(b, v)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return string(append(b, ']')), nil
}

// AppendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, everything else (UTF-8 included) as is.
// Text that is not valid UTF-8 goes through encoding/json.
func AppendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		q, _ := json.Marshal(s)
		return append(b, q...)
	}
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// upsertPending sets the pending exports of existing objects. An
// unchanged one keeps its attempts and backoff; a changed one is due at
// once. A planned add follows its new name.
func upsertPending(ctx context.Context, tx pgx.Tx, systemID string, list []*PendingExport) error {
	// Columns as arrays, joined by unnest: no temporary table, whose
	// creation writes the catalogue in every sync, a person's change
	// included.
	n := len(list)
	ids, ops, dns, newDNs, changes := make([]int64, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	setPassword, enable, deprovision := make([]bool, n), make([]bool, n), make([]bool, n)
	for i, p := range list {
		c, err := marshalChanges(p.Changes)
		if err != nil {
			return err
		}
		ids[i], ops[i], dns[i], newDNs[i], changes[i] = p.CSID, string(p.Op), p.DN, p.NewDN, c
		setPassword[i], enable[i], deprovision[i] = p.SetPassword, p.Enable, p.Deprovision
	}
	// A pending export that stays as it was keeps its attempts and backoff.
	const same = `(c.export_op IS NOT DISTINCT FROM i.op AND c.export_changes::text IS NOT DISTINCT FROM i.changes AND c.export_new_dn = i.new_dn)`
	_, err := tx.Exec(ctx, `UPDATE cs_objects c SET export_op = i.op, export_new_dn = i.new_dn, export_changes = i.changes::json,
			export_set_password = i.set_password, export_enable = i.enable, export_deprovision = i.deprovision,
			dn = CASE WHEN i.op = 'add' AND c.anchor IS NULL THEN i.dn ELSE c.dn END,
			export_status = CASE WHEN `+same+` THEN c.export_status ELSE 'pending' END,
			export_attempts = CASE WHEN `+same+` THEN c.export_attempts ELSE 0 END,
			export_next_at = CASE WHEN `+same+` THEN c.export_next_at ELSE now() END,
			export_updated_at = now()
		FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::boolean[], $8::boolean[])
			AS i(cs_id, op, dn, new_dn, changes, set_password, enable, deprovision)
		WHERE c.id = i.cs_id`, ids, ops, dns, newDNs, changes, setPassword, enable, deprovision)
	return err
}

// applyInbound writes inbound flows to people, records their source and
// audits each person's change; it returns the people it changed. It is
// set-based, as a first import changes every person: one statement
// records the sources, one updates the people who change the same
// attributes (the "before" of each for the audit), and one audits them
// all.
func applyInbound(ctx context.Context, tx pgx.Tx, sys *portal.ConnectedSystem, changes []inboundChange) ([]string, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	byPerson := map[string]map[string]string{}
	sources := map[string]map[string]int{}
	defs := map[string]*portal.Attribute{}
	var order []string
	for _, c := range changes {
		defs[c.Attr] = c.attribute
		if byPerson[c.PersonID] == nil {
			byPerson[c.PersonID], sources[c.PersonID] = map[string]string{}, map[string]int{}
			order = append(order, c.PersonID)
		}
		byPerson[c.PersonID][c.Attr] = c.Value
		sources[c.PersonID][c.Attr] = c.Precedence
	}
	var srcPeople, srcAttrs []string
	var srcPrecs []int32
	for _, pid := range order {
		for attr, prec := range sources[pid] {
			srcPeople, srcAttrs, srcPrecs = append(srcPeople, pid), append(srcAttrs, attr), append(srcPrecs, int32(prec))
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO mv_attribute_sources (person_id, attribute, system_id, precedence)
		SELECT p, a, $4, n FROM unnest($1::uuid[], $2::text[], $3::int[]) AS s(p, a, n)
		ON CONFLICT (person_id, attribute) DO UPDATE SET system_id = excluded.system_id, precedence = excluded.precedence`,
		srcPeople, srcAttrs, srcPrecs, sys.ID); err != nil {
		return nil, err
	}
	// People who change the same attributes share one UPDATE.
	groups := map[string][]string{}
	var keys []string
	for _, pid := range order {
		attrs := slices.Sorted(maps.Keys(byPerson[pid]))
		key := strings.Join(attrs, "\x00")
		if groups[key] == nil {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], pid)
	}
	auditPeople, auditDetails := make([]string, 0, len(order)), make([]string, 0, len(order))
	for _, key := range keys {
		people := groups[key]
		attrs := strings.Split(key, "\x00")
		args := []any{people}
		var cols, sets, olds []string
		var removes, builds []string // of extra attributes
		for i, attr := range attrs {
			a := defs[attr]
			if a == nil || !a.InboundTarget() || a.Type == portal.TypeReference {
				return nil, fmt.Errorf("syncsvc: inbound flow to %q, which is not a person attribute it can set", attr)
			}
			values := make([]string, len(people))
			for k, pid := range people {
				values[k] = byPerson[pid][attr]
			}
			args = append(args, values)
			v := fmt.Sprintf("v%d", i)
			cols = append(cols, fmt.Sprintf("$%d::text[]", len(args)))
			if !a.Core() {
				// An empty value removes the attribute, as a request's does.
				args = append(args, a.Name)
				name := fmt.Sprintf("$%d::text", len(args))
				removes = append(removes, fmt.Sprintf("CASE WHEN v.%s = '' THEN %s END", v, name))
				builds = append(builds, fmt.Sprintf("%s, nullif(v.%s, '')", name, v))
				olds = append(olds, "coalesce(o.extra->>"+name+", '')")
				continue
			}
			col := pgx.Identifier{a.Column}.Sanitize()
			set := "v." + v
			if a.Type == portal.TypeBool {
				set += "::boolean"
			}
			// Only the table's column names reach the SQL text.
			sets = append(sets, col+" = "+set)
			olds = append(olds, "coalesce(o."+col+"::text, '')")
		}
		if len(builds) > 0 {
			sets = append(sets, "extra = (people.extra - array_remove(ARRAY["+strings.Join(removes, ", ")+"]::text[], NULL)) || "+
				"jsonb_strip_nulls(jsonb_build_object("+strings.Join(builds, ", ")+"))")
		}
		names := make([]string, len(attrs))
		for i := range attrs {
			names[i] = fmt.Sprintf("v%d", i)
		}
		// The CTE locks the rows first, so "before" is what this sync
		// replaced. FOR NO KEY UPDATE, the UPDATE's own lock (no inbound
		// flow changes an identifier): this transaction may hold the rows'
		// key-share locks already (the sources above, the joins), and so
		// may a request's submission that changes the same person; FOR
		// UPDATE waited for the other's, and two such upgrades deadlocked.
		rows, err := tx.Query(ctx, `WITH v AS (SELECT * FROM unnest($1::uuid[], `+strings.Join(cols, ", ")+`) AS v(id, `+strings.Join(names, ", ")+`)),
			o AS (SELECT p.* FROM people p JOIN v ON v.id = p.id FOR NO KEY UPDATE OF p)
			UPDATE people SET `+strings.Join(sets, ", ")+`, updated_at = now() FROM v, o WHERE people.id = v.id AND o.id = v.id
			RETURNING people.id::text, ARRAY[`+strings.Join(olds, ", ")+`]`, args...)
		if err != nil {
			return nil, err
		}
		var pid string
		var before []string
		_, err = pgx.ForEachRow(rows, []any{&pid, &before}, func() error {
			changed := make(map[string]portal.AttributeChange, len(attrs))
			for i, attr := range attrs {
				changed[attr] = portal.AttributeChange{Old: before[i], New: byPerson[pid][attr]}
			}
			details, err := json.Marshal(map[string]any{"system": sys.Name, "changes": changed})
			auditPeople, auditDetails = append(auditPeople, pid), append(auditDetails, string(details))
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if _, err := tx.Exec(ctx, `SELECT audit_append(NULL, 'sync_inbound', 'person', a.id, a.details::jsonb)
		FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS a(id, details, n) ORDER BY a.n`, auditPeople, auditDetails); err != nil {
		return nil, err
	}
	return order, nil
}

// matchValues runs sql, which numbers values from 1 (unnest WITH
// ORDINALITY) and returns each number it matched with an ID, and returns
// the IDs by index into values.
func matchValues(ctx context.Context, q querier, sql string, values []string) (map[int]string, error) {
	out := map[int]string{}
	if len(values) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, sql, values)
	if err != nil {
		return nil, err
	}
	var n int
	var id string
	_, err = pgx.ForEachRow(rows, []any{&n, &id}, func() error {
		out[n-1] = id
		return nil
	})
	return out, err
}

// deltaSyncRun syncs what imports changed since the last sync: the
// metaverse objects joined to changed connector space objects, the people
// the unjoined changed objects may join, and people changed in the portal.
func (e *Engine) deltaSyncRun(ctx context.Context, sys *portal.ConnectedSystem, rec *runRecord) error {
	rs, err := e.loadRules(ctx, e.Pool, sys.ID)
	if err != nil {
		return err
	}
	var ids []int64
	sc := syncScope{}
	project := false // an unjoined object changed that the rule may project
	rows, err := e.Pool.Query(ctx, csSelect+" WHERE system_id = $1 AND pending_import", sys.ID)
	if err != nil {
		return err
	}
	objs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*CSObject, error) { return scanCS(row) })
	if err != nil {
		return err
	}
	// The people and groups the unjoined objects may join are found by one
	// query for each join rule (and one for the groups), however many
	// objects an import brought: a first import of 100,000 HR rows is
	// 100,000 unjoined objects.
	var unjoinedUsers, unjoinedGroups []*CSObject
	for _, o := range objs {
		ids = append(ids, o.ID)
		switch {
		case o.PersonID != "":
			sc.people = append(sc.people, o.PersonID)
		case o.GroupID != "":
			sc.groups = append(sc.groups, o.GroupID)
		case o.Class == ObjectUser && rs.users != nil:
			project = project || rs.users.Projection
			unjoinedUsers = append(unjoinedUsers, o)
		case o.Class == ObjectGroup:
			unjoinedGroups = append(unjoinedGroups, o)
		}
	}
	if rs.users != nil {
		for i, j := range rs.users.JoinRules {
			var values []string
			var left []*CSObject
			for _, o := range unjoinedUsers {
				if v := o.first(j.CS); v != "" {
					values = append(values, v)
					left = append(left, o)
				}
			}
			col := pgx.Identifier{rs.users.joinAttrs[i].Column}.Sanitize()
			found, err := matchValues(ctx, e.Pool, `SELECT DISTINCT ON (v.n) v.n, p.id::text FROM unnest($1::text[]) WITH ORDINALITY AS v(value, n)
				JOIN people p ON lower(p.`+col+`) = lower(v.value) ORDER BY v.n`, values)
			if err != nil {
				return fmt.Errorf("syncsvc: join candidates: %w", err)
			}
			// An object a rule found is not looked for by the next rules.
			unjoinedUsers = unjoinedUsers[:0]
			for k, o := range left {
				if pid, ok := found[k]; ok {
					sc.people = append(sc.people, pid)
				} else {
					unjoinedUsers = append(unjoinedUsers, o)
				}
			}
		}
	}
	if len(unjoinedGroups) > 0 {
		names := make([]string, len(unjoinedGroups))
		for i, o := range unjoinedGroups {
			names[i] = o.first("sAMAccountName")
		}
		found, err := matchValues(ctx, e.Pool, `SELECT DISTINCT ON (v.n) v.n, g.id::text FROM unnest($1::text[]) WITH ORDINALITY AS v(value, n)
			JOIN groups g ON lower(g.name) = lower(v.value) ORDER BY v.n`, names)
		if err != nil {
			return fmt.Errorf("syncsvc: join candidates: %w", err)
		}
		for _, gid := range found {
			sc.groups = append(sc.groups, gid)
		}
	}
	// People changed in the portal since the last delta sync started,
	// with a margin: a change is stamped when its transaction begins, and
	// one that began before that sync may have committed after it. Syncing
	// a person twice changes nothing.
	//
	// A source Tessera never writes to (HR) gains nothing from syncing a
	// person joined to it already when its rule takes everyone: nothing is
	// exported to it, and its values flow in with its own changes (taken
	// above). Of the people changed in the portal, it syncs those it may
	// still join.
	sql := `SELECT id::text FROM people WHERE updated_at >= coalesce(
		(SELECT max(started_at) FROM sync_runs WHERE system_id = $1 AND profile IN ('delta_sync', 'full_sync') AND status <> 'failed'
			AND id <> $2), '-infinity') - interval '5 minutes'`
	if sys.Type == portal.SystemHR && rs.group == nil && (rs.users == nil || rs.users.Scope == "") {
		sql += ` AND NOT EXISTS (SELECT 1 FROM cs_objects c WHERE c.system_id = $1 AND c.person_id = people.id)`
	}
	rows, err = e.Pool.Query(ctx, sql, sys.ID, rec.id)
	if err != nil {
		return err
	}
	changed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	sc.people = append(sc.people, changed...)
	// New groups, and groups whose members changed: by request, dynamic
	// rule or expiry.
	rows, err = e.Pool.Query(ctx, `WITH since AS (SELECT coalesce(max(started_at), '-infinity') - interval '5 minutes' AS t FROM sync_runs
			WHERE system_id = $1 AND profile IN ('delta_sync', 'full_sync') AND status <> 'failed' AND id <> $2)
		SELECT group_id::text FROM group_member_changes, since WHERE at >= since.t
		UNION SELECT id::text FROM groups, since WHERE created_at >= since.t`, sys.ID, rec.id)
	if err != nil {
		return err
	}
	groups, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	sc.groups = append(sc.groups, groups...)
	// A person both joined by this import and changed in the portal (a
	// first HR file joins people the seed just wrote) is synced once.
	slices.Sort(sc.people)
	sc.people = slices.Compact(sc.people)
	if len(sc.people) > 0 || len(sc.groups) > 0 || project {
		if _, err := e.syncObjects(ctx, sys, sc, rec); err != nil {
			return err
		}
	}
	// The sync took most of them in already (and cleared them in its own
	// transaction): rewriting those rows again costs as much as the first
	// time.
	if _, err = e.Pool.Exec(ctx, `UPDATE cs_objects SET pending_import = false, changed_attrs = '{}' WHERE id = ANY($1)
		AND (pending_import OR changed_attrs <> '{}')`, ids); err != nil {
		return err
	}
	// Every system's delta cycle runs more often than daily. The run
	// history of this system is kept for RunHistoryDays (its objects go
	// with it).
	_, err = e.Pool.Exec(ctx, `WITH g AS (DELETE FROM group_member_changes WHERE at < now() - interval '1 day')
		DELETE FROM sync_runs WHERE system_id = $1 AND finished_at < now() - make_interval(days => $2)`, sys.ID, RunHistoryDays)
	return err
}

// RunHistoryDays is how long the run history (runs and the objects they
// touched) is kept; the delta syncs of the system remove what is older.
const RunHistoryDays = 30

// PreviewPerson shows what a full sync would do to one person in every
// connected system, changing nothing.
func (e *Engine) PreviewPerson(ctx context.Context, personID string) ([]Preview, error) {
	systems, err := e.Systems.ListConnectedSystems(ctx)
	if err != nil {
		return nil, err
	}
	var out []Preview
	for i := range systems {
		sys := &systems[i]
		rec := &runRecord{e: e, flushed: time.Now()}
		cs, err := e.syncObjects(ctx, sys, syncScope{people: []string{personID}, dryRun: true}, rec)
		if err != nil {
			out = append(out, Preview{SystemName: sys.Name, Action: "error", Changes: []string{portal.ErrorMessageOr(err)}})
			continue
		}
		out = append(out, cs.previews...)
	}
	return out, nil
}
