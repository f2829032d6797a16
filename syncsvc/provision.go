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
	// StepExport sends what the sync planned for the person.
	StepExport ProvisionStepKind = "export"
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
		order := []ProvisionStepKind{StepRead, StepMatch, StepExport, StepConfirm}
		for _, k := range order[slices.Index(order, from)+1:] {
			add(k, ResultSkipped, "")
		}
		return steps
	}
	l, err := e.lock(ctx, sys.ID, personLockWait)
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

	// Export: the sync for real, then what waits for the person, now.
	if sys.Staging {
		add(StepExport, ResultStaging, "")
		return skipRest(StepExport)
	}
	if _, err := e.syncObjects(ctx, sys, syncScope{people: []string{personID}}, scratch); err != nil {
		add(StepExport, ResultError, "", portal.ErrorMessageOr(err))
		return skipRest(StepExport)
	}
	// An administrator asked for it now: a failed export's backoff does
	// not hold it back.
	tag, err := e.Pool.Exec(ctx, `UPDATE cs_objects SET export_next_at = now() WHERE system_id = $1 AND person_id = $2
		AND export_op IS NOT NULL`, sys.ID, personID)
	if err != nil {
		add(StepExport, ResultError, "", err.Error())
		return skipRest(StepExport)
	}
	if tag.RowsAffected() == 0 {
		add(StepExport, ResultNothing, "")
		add(StepConfirm, ResultSkipped, "")
		return steps
	}
	opts := RunOptions{Trigger: "provision", person: personID}
	rec, err := e.startRun(ctx, sys.ID, Export, opts)
	if err != nil {
		add(StepExport, ResultError, "", err.Error())
		return skipRest(StepExport)
	}
	msg, err := e.exportWith(ctx, sys, conn, opts, rec, nil)
	rec.mu.Lock()
	objects := slices.Clone(rec.objects)
	counts := rec.counts
	rec.mu.Unlock()
	if _, ferr := rec.finish(ctx, err, msg); ferr != nil && err == nil {
		err = ferr
	}
	var sent, failed []string
	var lastDN string
	for _, o := range objects {
		if o.Kind == "error" {
			failed = append(failed, o.DN+": "+o.Detail)
			continue
		}
		sent = append(sent, o.Kind+" "+o.DN)
		lastDN = o.DN
	}
	switch {
	case err != nil:
		add(StepExport, ResultError, "", append(failed, portal.ErrorMessageOr(err))...)
		return skipRest(StepExport)
	case counts.Errors > 0:
		add(StepExport, ResultError, "", failed...)
		return skipRest(StepExport)
	case len(sent) == 0:
		add(StepExport, ResultNothing, "", msg)
		add(StepConfirm, ResultSkipped, "")
		return steps
	}
	add(StepExport, ResultExported, lastDN, sent...)

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
