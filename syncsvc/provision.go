package syncsvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// ProvisionStepKind names a step of Provision now, the steps Entra Cloud
// Sync's provisioning on demand reports.
type ProvisionStepKind string

// The steps of Provision now, in each system in turn.
const (
	// StepRead reads the person's account from the system as it is now.
	StepRead ProvisionStepKind = "read"
	// StepMatch applies the sync rules: in scope or not, joined or to be
	// created, and the changes that follow (Result is a Preview action).
	StepMatch ProvisionStepKind = "match"
	// StepExport sends what the sync planned for the person's account.
	StepExport ProvisionStepKind = "export"
	// StepMembers sends the changes of the groups the person is in, or
	// left, once their account is there: a group names its members by
	// their accounts.
	StepMembers ProvisionStepKind = "members"
	// StepConfirm reads the change back (a delta import).
	StepConfirm ProvisionStepKind = "confirm"
)

// Results of the read, export and confirm steps besides the preview
// actions of the match step.
const (
	ResultFound     = "found"     // read: the joined account is there
	ResultNone      = "none"      // read: no account joined yet
	ResultGone      = "gone"      // read: the joined account is no longer there
	ResultExported  = "exported"  // export: sent and accepted
	ResultNothing   = "nothing"   // export: nothing to send
	ResultStaging   = "staging"   // export: staging mode, nothing sent
	ResultSkipped   = "skipped"   // not done: an earlier step says why
	ResultConfirmed = "confirmed" // confirm: read back
	ResultError     = "error"     // the system's or the engine's words in Details
)

// ProvisionStep is one step of Provision now in one system.
type ProvisionStep struct {
	SystemName string
	Step       ProvisionStepKind
	Result     string
	DN         string
	// Details are the changes planned or sent, or the words of an error.
	Details []string
}

// ProvisionPerson syncs one person into every enabled connected system
// with sync rules and exports at once what that sync planned for them, as
// Entra Cloud Sync's provisioning on demand does for one user, but through
// every system and immediately: systems whose users are anchored in
// another go after it (a new person's Entra account takes their AD
// objectGUID), and bulk work waits meanwhile. It reports each step.
func (e *Engine) ProvisionPerson(ctx context.Context, personID string) ([]ProvisionStep, error) {
	all, err := e.Systems.ListConnectedSystems(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := e.Pool.Query(ctx, "SELECT DISTINCT system_id::text FROM sync_rules")
	if err != nil {
		return nil, fmt.Errorf("syncsvc: systems with rules: %w", err)
	}
	withRules, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("syncsvc: systems with rules: %w", err)
	}
	var systems []portal.ConnectedSystem
	for _, s := range all {
		if s.Enabled && slices.Contains(withRules, s.ID) {
			systems = append(systems, s)
		}
	}
	// AD first, then the systems anchored in it, ahead of bulk work.
	ctx, release, err := e.personFirst(ctx, systems)
	if err != nil {
		return nil, err
	}
	defer release()
	var steps []ProvisionStep
	for i := range systems {
		steps = append(steps, e.provisionIn(ctx, &systems[i], personID)...)
	}
	return steps, nil
}

// provisionIn is Provision now in one system.
func (e *Engine) provisionIn(ctx context.Context, sys *portal.ConnectedSystem, personID string) []ProvisionStep {
	var steps []ProvisionStep
	add := func(kind ProvisionStepKind, result, dn string, details ...string) {
		steps = append(steps, ProvisionStep{SystemName: sys.Name, Step: kind, Result: result, DN: dn, Details: details})
	}
	// skipRest reports the steps after from as not done.
	skipRest := func(from ProvisionStepKind) []ProvisionStep {
		order := []ProvisionStepKind{StepRead, StepMatch, StepExport, StepMembers, StepConfirm}
		for _, k := range order[slices.Index(order, from)+1:] {
			add(k, ResultSkipped, "")
		}
		return steps
	}
	ctx, l, err := e.lock(ctx, sys.ID, personLockWait)
	if err != nil {
		add(StepRead, ResultError, "", portal.ErrorMessageOr(err))
		return skipRest(StepRead)
	}
	defer l.release(sys.ID)
	conn, err := e.open(ctx, sys)
	if err != nil {
		e.setReachable(ctx, sys.ID, err)
		add(StepRead, ResultError, "", portal.ErrorMessageOr(err))
		return skipRest(StepRead)
	}
	defer conn.Close()

	// Read: the account joined to the person, as the system holds it now.
	var anchor, dn string
	err = e.Pool.QueryRow(ctx, `SELECT coalesce(anchor, ''), dn FROM cs_objects WHERE system_id = $1 AND person_id = $2
		ORDER BY class = 'user' DESC LIMIT 1`, sys.ID, personID).Scan(&anchor, &dn)
	switch {
	case errors.Is(err, pgx.ErrNoRows) || err == nil && anchor == "":
		add(StepRead, ResultNone, dn)
	case err != nil:
		add(StepRead, ResultError, "", err.Error())
		return skipRest(StepRead)
	default:
		obj, err := conn.Read(ctx, anchor, "")
		switch {
		case errors.Is(err, ErrNoSuchObject):
			add(StepRead, ResultGone, dn)
		case err != nil:
			e.setReachable(ctx, sys.ID, err)
			add(StepRead, ResultError, dn, portal.ErrorMessageOr(err))
			return skipRest(StepRead)
		default:
			add(StepRead, ResultFound, obj.DN)
		}
	}

	// Match: what the sync rules make of the person here.
	scratch := &runRecord{e: e, flushed: time.Now()}
	preview, err := e.syncObjects(ctx, sys, syncScope{people: []string{personID}, dryRun: true}, scratch)
	if err != nil {
		add(StepMatch, ResultError, "", portal.ErrorMessageOr(err))
		return skipRest(StepMatch)
	}
	action := "out of scope"
	for _, pv := range preview.previews {
		add(StepMatch, pv.Action, pv.DN, pv.Changes...)
		action = pv.Action
	}
	if len(preview.previews) == 0 {
		add(StepMatch, action, "")
	}
	switch action {
	case "error":
		return skipRest(StepMatch)
	case "out of scope", "not provisioned (provisioning is off)", "waits for its account in the source anchor system":
		if anchor == "" {
			return skipRest(StepMatch)
		}
	}

	// Export: the sync for real, of the person and of the groups they are
	// in or left here, then what waits for them, now: their account first,
	// then the groups' members, which name it.
	if sys.Staging {
		add(StepExport, ResultStaging, "")
		return skipRest(StepExport)
	}
	groups, err := e.personGroups(ctx, sys.ID, personID, dn)
	if err != nil {
		add(StepExport, ResultError, "", err.Error())
		return skipRest(StepExport)
	}
	if _, err := e.syncObjects(ctx, sys, syncScope{people: []string{personID}, groups: groups}, scratch); err != nil {
		add(StepExport, ResultError, "", portal.ErrorMessageOr(err))
		return skipRest(StepExport)
	}
	var lastDN string
	sentAny := false
	for _, opts := range []RunOptions{{Trigger: "provision", person: personID}, {Trigger: "provision", groups: groups}} {
		kind := StepExport
		if opts.person == "" {
			kind = StepMembers
			if len(groups) == 0 {
				add(kind, ResultNothing, "")
				continue
			}
		}
		r := e.exportNow(ctx, sys, conn, opts)
		switch {
		case r.err != nil:
			add(kind, ResultError, "", append(r.failed, portal.ErrorMessageOr(r.err))...)
			return skipRest(kind)
		case len(r.failed) > 0:
			add(kind, ResultError, "", r.failed...)
			return skipRest(kind)
		case len(r.sent) == 0:
			add(kind, ResultNothing, "", r.message...)
		default:
			add(kind, ResultExported, r.lastDN, r.sent...)
			if kind == StepExport {
				lastDN = r.lastDN
			}
			sentAny = true
		}
	}
	if !sentAny {
		add(StepConfirm, ResultSkipped, "")
		return steps
	}

	// Confirm: the change read back, which completes the requests that
	// waited for it.
	err = e.importWith(ctx, sys, conn, false, scratch)
	switch {
	case err == nil:
		add(StepConfirm, ResultConfirmed, lastDN)
	case portal.ErrorCode(err) == portal.ECONFLICT:
		add(StepConfirm, ResultSkipped, "", portal.ErrorMessageOr(err)) // no full import yet
	default:
		add(StepConfirm, ResultError, "", portal.ErrorMessageOr(err))
	}
	return steps
}

// personGroups are the groups whose objects in a system Provision now
// syncs with a person: those the person is a member of, and those whose
// object in the system still names the person's account dn as a member.
func (e *Engine) personGroups(ctx context.Context, systemID, personID, dn string) ([]string, error) {
	rows, err := e.Pool.Query(ctx, `SELECT group_id::text FROM group_members WHERE person_id = $1
		UNION
		SELECT c.group_id::text FROM cs_objects c WHERE c.system_id = $2 AND c.class = 'group' AND c.group_id IS NOT NULL AND $3 <> ''
			AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(c.attributes->'member') = 'array'
				THEN c.attributes->'member' ELSE '[]' END) m WHERE lower(m) = lower($3))`, personID, systemID, dn)
	if err != nil {
		return nil, fmt.Errorf("syncsvc: the person's groups: %w", err)
	}
	groups, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("syncsvc: the person's groups: %w", err)
	}
	return groups, nil
}

// provisionExport is what one export of Provision now did.
type provisionExport struct {
	sent, failed, message []string
	lastDN                string
	err                   error
}

// exportNow sends at once what waits for the objects opts names (an
// administrator asked for it now: a failed export's backoff does not hold
// it back), as a run of its own in run history.
func (e *Engine) exportNow(ctx context.Context, sys *portal.ConnectedSystem, conn Connector, opts RunOptions) provisionExport {
	var r provisionExport
	tag, err := e.Pool.Exec(ctx, `UPDATE cs_objects SET export_next_at = now() WHERE system_id = $1 AND export_op IS NOT NULL
		AND ($2::uuid IS NULL OR person_id = $2::uuid) AND ($3::text[] IS NULL OR group_id = ANY ($3::text[]::uuid[]))`,
		sys.ID, nullText(opts.person), opts.groups)
	if err != nil {
		r.err = fmt.Errorf("syncsvc: provision now: %w", err)
		return r
	}
	if tag.RowsAffected() == 0 {
		return r
	}
	rec, err := e.startRun(ctx, sys.ID, Export, opts)
	if err != nil {
		r.err = err
		return r
	}
	msg, err := e.exportWith(ctx, sys, conn, opts, rec, nil)
	rec.mu.Lock()
	objects := slices.Clone(rec.objects)
	counts := rec.counts
	rec.mu.Unlock()
	if _, ferr := rec.finish(ctx, err, msg); ferr != nil && err == nil {
		err = ferr
	}
	for _, o := range objects {
		if o.Kind == "error" {
			r.failed = append(r.failed, o.DN+": "+o.Detail)
			continue
		}
		r.sent = append(r.sent, o.Kind+" "+o.DN)
		r.lastDN = o.DN
	}
	if counts.Errors > 0 && len(r.failed) == 0 {
		r.failed = append(r.failed, msg.String())
	}
	if len(r.sent) == 0 && !msg.IsZero() {
		r.message = []string{msg.String()}
	}
	r.err = err
	return r
}
