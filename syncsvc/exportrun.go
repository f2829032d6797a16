package syncsvc

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// exportChunk is how many pending exports are sent between writes.
const exportChunk = 100

// exportRun sends the pending exports that are due, users before groups,
// deletes last; with requestIDs, only those that carry one of them.
func (e *Engine) exportRun(ctx context.Context, sys *portal.ConnectedSystem, opts RunOptions, rec *runRecord) (portal.Text, error) {
	return e.exportWith(ctx, sys, nil, opts, rec, nil)
}

func (e *Engine) exportWith(ctx context.Context, sys *portal.ConnectedSystem, conn Connector, opts RunOptions, rec *runRecord, requestIDs []string) (portal.Text, error) {
	if sys.Staging {
		return portal.Textf("Staging mode: pending exports are computed and shown, never sent."), nil
	}
	rows, err := e.Pool.Query(ctx, `SELECT c.id, c.export_op FROM cs_objects c
		WHERE c.system_id = $1 AND c.export_op IS NOT NULL AND c.export_next_at <= now()
			AND ($2::text[] IS NULL OR EXISTS (SELECT 1 FROM export_requests r WHERE r.cs_id = c.id
				AND r.request_id = ANY ($2::text[]::uuid[])))
			AND ($3::uuid IS NULL OR c.person_id = $3::uuid)
			AND ($4::text[] IS NULL OR c.group_id = ANY ($4::text[]::uuid[]))
		ORDER BY c.export_op = 'delete', c.class = 'group', c.export_op <> 'add', c.id`, sys.ID, requestIDs, nullText(opts.person), opts.groups)
	if err != nil {
		return portal.Text{}, fmt.Errorf("syncsvc: pending exports: %w", err)
	}
	type due struct {
		id int64
		op string
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (due, error) {
		var d due
		err := row.Scan(&d.id, &d.op)
		return d, err
	})
	if err != nil {
		return portal.Text{}, fmt.Errorf("syncsvc: pending exports: %w", err)
	}
	deletes := 0
	for _, d := range list {
		if d.op == string(ExportDelete) {
			deletes++
		}
	}
	threshold := sys.DeletionThreshold
	if threshold == 0 {
		threshold = portal.DefaultDeletionThreshold
	}
	if deletes > threshold && !opts.ConfirmDeletes {
		return portal.Textf("Stopped before sending anything: this export would delete %d objects, more than the deletion threshold of %d. "+
			"Review the pending exports, then confirm the deletions to run it.", deletes, threshold), errStopped
	}
	if len(list) == 0 {
		return portal.Textf("Nothing to export."), nil
	}
	if conn == nil {
		if conn, err = e.open(ctx, sys); err != nil {
			e.setReachable(ctx, sys.ID, err)
			return portal.Text{}, err
		}
		defer conn.Close()
	}
	// A connector that batches gets a batch per chunk: each chunk is
	// recorded before the next, and a person's change waiting for the
	// system goes ahead between two (yield), a batch's time at most.
	chunk := exportChunk
	if b, ok := conn.(BatchExporter); ok {
		chunk = max(1, b.ExportBatchSize())
	}
	for start := 0; start < len(list); start += chunk {
		if start > 0 {
			if err := opts.lock.yield(ctx, sys.ID); err != nil {
				return portal.Text{}, err
			}
		}
		ids := make([]int64, 0, chunk)
		for _, d := range list[start:min(start+chunk, len(list))] {
			ids = append(ids, d.id)
		}
		if err := e.exportChunk(ctx, sys, conn, ids, rec); err != nil {
			return portal.Text{}, err
		}
	}
	return portal.Text{}, nil
}

// pendingRow is a pending export with what the export needs of its object.
type pendingRow struct {
	PendingExport
	anchor string
	class  ObjectClass
	attrs  map[string][]string
}

func (e *Engine) exportChunk(ctx context.Context, sys *portal.ConnectedSystem, conn Connector, ids []int64, rec *runRecord) error {
	rows, err := e.Pool.Query(ctx, `SELECT c.id, c.export_op, c.dn, c.export_new_dn, c.export_changes, c.export_set_password,
			c.export_enable, c.export_deprovision, c.export_attempts,
			coalesce((SELECT array_agg(r.request_id::text) FROM export_requests r WHERE r.cs_id = c.id AND r.sent_at IS NULL), '{}'),
			coalesce(c.anchor, ''), c.class, c.attributes
		FROM cs_objects c WHERE c.id = ANY($1) AND c.export_op IS NOT NULL ORDER BY array_position($1, c.id)`, ids)
	if err != nil {
		return err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*pendingRow, error) {
		var p pendingRow
		var changes, attrs []byte
		err := row.Scan(&p.CSID, &p.Op, &p.DN, &p.NewDN, &changes, &p.SetPassword, &p.Enable, &p.Deprovision, &p.Attempts,
			&p.RequestIDs, &p.anchor, &p.class, &attrs)
		if err == nil {
			err = json.Unmarshal(changes, &p.Changes)
		}
		if err == nil {
			err = json.Unmarshal(attrs, &p.attrs)
		}
		p.Class = p.class
		return &p, err
	})
	if err != nil {
		return err
	}
	var sent []exportOutcome
	if _, ok := conn.(BatchExporter); ok {
		sent = e.exportBatched(ctx, conn, list)
	} else {
		sent = e.exportEach(ctx, conn, list)
	}
	var down error
	results := make([]exportOutcome, 0, len(sent))
	for _, o := range sent {
		if o.err != nil && ctx.Err() != nil {
			continue // interrupted, not refused: tried again later
		}
		if o.err != nil && errors.Is(o.err, ErrUnreachable) {
			down = o.err
		}
		results = append(results, o)
	}
	if err := e.recordExports(ctx, sys, results, rec); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	e.setReachable(ctx, sys.ID, down)
	if down != nil {
		return fmt.Errorf("%s is unreachable; exports wait and retry: %w", sys.Name, down)
	}
	rec.progress(ctx, len(results))
	return nil
}

// exportEach sends pending exports in order, stopping at the first that
// finds the system unreachable or the run shut down. To a connector that
// takes several at once (WindowedExporter), the plain modifies between
// two other exports go up to its window at a time: each object's own
// operations still go one after another, in one goroutine, and an
// export that another object may depend on (an add, which a member or
// manager value may name; a rename or move; a delete) waits for every
// export before it to finish and finishes before any after it starts.
// What the others do to each other is not ordered within the window: a
// modify names only objects that existed before the run, or were added
// ahead of it.
func (e *Engine) exportEach(ctx context.Context, conn Connector, list []*pendingRow) []exportOutcome {
	window := 1
	if w, ok := conn.(WindowedExporter); ok {
		window = max(1, w.ExportWindow())
	}
	halts := func(o exportOutcome) bool {
		return o.err != nil && (ctx.Err() != nil || errors.Is(o.err, ErrUnreachable))
	}
	out := make([]exportOutcome, len(list))
	sent := make([]bool, len(list))
	var (
		inFlight sync.WaitGroup
		halted   atomic.Bool
	)
	slots := make(chan struct{}, window)
	for i, p := range list {
		if ctx.Err() != nil || halted.Load() {
			break // shutting down or unreachable: the rest stays pending as it is
		}
		if window == 1 || p.Op != ExportModify || p.NewDN != "" {
			inFlight.Wait()
			if halted.Load() {
				break
			}
			out[i], sent[i] = e.exportOne(ctx, conn, p), true
			if halts(out[i]) {
				break
			}
			continue
		}
		slots <- struct{}{}
		if halted.Load() {
			break
		}
		sent[i] = true
		inFlight.Add(1)
		go func() {
			defer inFlight.Done()
			out[i] = e.exportOne(ctx, conn, p)
			if halts(out[i]) {
				halted.Store(true)
			}
			<-slots
		}()
	}
	inFlight.Wait()
	done := out[:0]
	for i, o := range out {
		if sent[i] {
			done = append(done, o)
		}
	}
	return done
}

// exportBatched sends pending exports in one Export call, for a connector
// that batches them (Graph: 20 requests a round trip), each change with
// its object's anchor. What needs more than one step (a rename with its
// modify, an add that finds its object there, an object no longer at its
// DN) goes through exportOne, in its place in the order.
func (e *Engine) exportBatched(ctx context.Context, conn Connector, list []*pendingRow) []exportOutcome {
	out := make([]exportOutcome, len(list))
	var changes []ExportChange
	var rows []int // list index of each change
	flush := func() {
		if len(changes) == 0 {
			return
		}
		results := conn.Export(ctx, changes)
		for k, i := range rows {
			p, res := list[i], results[k]
			o := exportOutcome{p: p, anchor: p.anchor, dn: p.DN, err: res.Err}
			switch {
			case p.Op == ExportAdd && res.Err == nil:
				o.anchor, o.dn = res.Anchor, res.DN
			case p.Op == ExportAdd && errors.Is(res.Err, ErrAlreadyExists):
				o = e.takeExisting(ctx, conn, p, res.Err)
			case p.Op == ExportDelete && errors.Is(res.Err, ErrNoSuchObject):
				o.err = nil // already gone
			case p.Op == ExportModify && errors.Is(res.Err, ErrNoSuchObject) && p.anchor != "":
				o = e.exportOne(ctx, conn, p) // moved by someone else: found by its anchor
			}
			out[i] = o
		}
		changes, rows = changes[:0], rows[:0]
	}
	for i, p := range list {
		var ch ExportChange
		switch {
		case p.Op == ExportAdd:
			ch = ExportChange{Op: ExportAdd, DN: p.DN, Class: p.class, Attributes: p.Changes, Enabled: p.Enable}
			if p.SetPassword {
				ch.Password = randomPassword()
			}
		case p.Op == ExportDelete:
			ch = ExportChange{Op: ExportDelete, DN: p.DN, Anchor: p.anchor}
		case p.NewDN == "" && len(p.Changes) > 0:
			ch = ExportChange{Op: ExportModify, DN: p.DN, Anchor: p.anchor, Attributes: p.Changes}
		case p.NewDN == "":
			out[i] = exportOutcome{p: p, anchor: p.anchor, dn: p.DN} // nothing to send
			continue
		default:
			flush() // in order: a rename's modify may follow changes before it
			out[i] = e.exportOne(ctx, conn, p)
			continue
		}
		changes, rows = append(changes, ch), append(rows, i)
	}
	flush()
	return out
}

// exportOutcome is what happened to one pending export.
type exportOutcome struct {
	p      *pendingRow
	anchor string // after the export
	dn     string // after the export
	joined bool   // an add found its object already there and took it
	err    error
}

// exportOne sends one pending export. It is safe to repeat: after a crash
// between the send and its record, the add finds its object and takes it,
// a rename finds the object at its new DN, a delete finds nothing to do.
func (e *Engine) exportOne(ctx context.Context, conn Connector, p *pendingRow) exportOutcome {
	o := exportOutcome{p: p, anchor: p.anchor, dn: p.DN}
	switch p.Op {
	case ExportAdd:
		ch := ExportChange{Op: ExportAdd, DN: p.DN, Class: p.class, Attributes: p.Changes, Enabled: p.Enable}
		if p.SetPassword {
			ch.Password = randomPassword()
		}
		res := conn.Export(ctx, []ExportChange{ch})[0]
		if res.Err == nil {
			o.anchor, o.dn = res.Anchor, res.DN
			return o
		}
		if errors.Is(res.Err, ErrAlreadyExists) {
			return e.takeExisting(ctx, conn, p, res.Err)
		}
		o.err = res.Err
		return o
	case ExportDelete:
		res := conn.Export(ctx, []ExportChange{{Op: ExportDelete, DN: p.DN, Anchor: p.anchor}})[0]
		if res.Err != nil && errors.Is(res.Err, ErrNoSuchObject) {
			res.Err = nil // already gone
		}
		o.err = res.Err
		return o
	}
	// A rename and a modify of one object are two LDAP operations: when the
	// directory refuses the modify after the rename went through, the
	// rename is undone, so that a refused export leaves the object as it
	// was (not at its new name with its old attributes).
	dn, renamedFrom := p.DN, ""
	if p.NewDN != "" {
		res := conn.Export(ctx, []ExportChange{{Op: ExportRename, DN: dn, NewDN: p.NewDN, Anchor: p.anchor}})[0]
		if res.Err != nil && errors.Is(res.Err, ErrNoSuchObject) && p.anchor != "" {
			// Renamed already (a repeat), or by someone else: find it.
			if obj, err := conn.Read(ctx, p.anchor, ""); err == nil {
				dn = obj.DN
				if !SameDN(dn, p.NewDN) {
					res = conn.Export(ctx, []ExportChange{{Op: ExportRename, DN: dn, NewDN: p.NewDN, Anchor: p.anchor}})[0]
				} else {
					res.Err = nil
				}
			}
		}
		if res.Err != nil {
			o.err = res.Err
			return o
		}
		if !SameDN(dn, p.NewDN) {
			renamedFrom = dn
		}
		dn = p.NewDN
	}
	o.dn = dn
	if len(p.Changes) > 0 {
		res := conn.Export(ctx, []ExportChange{{Op: ExportModify, DN: dn, Anchor: p.anchor, Attributes: p.Changes}})[0]
		if res.Err != nil && errors.Is(res.Err, ErrNoSuchObject) && p.anchor != "" {
			if obj, err := conn.Read(ctx, p.anchor, ""); err == nil && !SameDN(obj.DN, dn) {
				o.dn = obj.DN
				renamedFrom = "" // someone else moved it: not ours to undo
				res = conn.Export(ctx, []ExportChange{{Op: ExportModify, DN: obj.DN, Anchor: p.anchor, Attributes: p.Changes}})[0]
			}
		}
		o.err = res.Err
		if res.Anchor != "" {
			o.anchor = res.Anchor
		}
		// A system that stopped answering is left as it is: the retry
		// repeats the rename (finding it done) and the modify.
		if o.err != nil && renamedFrom != "" && !errors.Is(o.err, ErrUnreachable) && ctx.Err() == nil {
			undo := conn.Export(ctx, []ExportChange{{Op: ExportRename, DN: o.dn, NewDN: renamedFrom, Anchor: p.anchor}})[0]
			if undo.Err != nil {
				o.err = fmt.Errorf("%w; the object was renamed to %s first, and renaming it back failed: %w", o.err, o.dn, undo.Err)
			} else {
				o.dn = renamedFrom
			}
		}
	}
	return o
}

// takeExisting answers an add that found an object at its DN: the object
// it meant to create (made before a crash lost the record) is taken; any
// other is not overwritten.
func (e *Engine) takeExisting(ctx context.Context, conn Connector, p *pendingRow, cause error) exportOutcome {
	o := exportOutcome{p: p, anchor: p.anchor, dn: p.DN}
	if obj, err := conn.Read(ctx, "", p.DN); err == nil && sameIdentity(obj, p.Changes) {
		o.anchor, o.dn, o.joined = obj.Anchor, obj.DN, true
		return o
	}
	o.err = fmt.Errorf("%w. An object that Tessera did not create holds this name or account name: "+
		"it is not overwritten. Add a join rule that matches it, or rename one of them", cause)
	return o
}

// sameIdentity reports whether obj is the object an add meant to create:
// its account name (or, failing that, its name) matches.
func sameIdentity(obj ImportedObject, changes []AttributeChange) bool {
	for _, key := range []string{"sAMAccountName", "userPrincipalName"} {
		for _, c := range changes {
			if strings.EqualFold(c.Name, key) && len(c.Values) == 1 {
				for k, v := range obj.Attributes {
					if strings.EqualFold(k, key) && len(v) == 1 {
						return strings.EqualFold(v[0], c.Values[0])
					}
				}
				return false
			}
		}
	}
	return false
}

// backoff is the wait before retrying an export that failed attempts
// times: 30 s, 1, 2, 4 ... minutes, at most an hour.
func backoff(attempts int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// recordExports writes the outcomes of a chunk in one transaction.
func (e *Engine) recordExports(ctx context.Context, sys *portal.ConnectedSystem, outcomes []exportOutcome, rec *runRecord) error {
	ctx = context.WithoutCancel(ctx) // what was sent is recorded, even on shutdown
	return pgx.BeginFunc(ctx, e.Pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		type refusal struct {
			ids    []string
			detail portal.Text
		}
		var refused []refusal
		var deleted []int64 // objects the export deleted, with requests waiting on them
		for _, o := range outcomes {
			p := o.p
			if o.err != nil {
				p.Attempts++
				status := "error"
				if errors.Is(o.err, ErrUnreachable) {
					status = "pending"
				}
				why := portal.ReasonOr(o.err)
				b.Queue(`UPDATE cs_objects SET export_status = $2, export_attempts = $3, export_error = $4, export_error_text = $6,
					export_next_at = now() + $5::interval, export_updated_at = now() WHERE id = $1`,
					p.CSID, status, p.Attempts, why.String(), backoff(p.Attempts).String(), why.Stored())
				if status == "error" {
					rec.count("error", p.DN, portal.ReasonOr(o.err))
					if len(p.RequestIDs) > 0 {
						// Only the requests still committed fail (once):
						// the same refusal repeats on every retry.
						refused = append(refused, refusal{p.RequestIDs, portal.Textf("%s refused the change: %s. An administrator has been shown the error; the export is retried, and the request completes if its values go through.",
							sys.Name, why)})
					}
				}
				continue
			}
			kind := countKind(&p.PendingExport)
			if o.joined {
				kind = "join"
			}
			rec.count(kind, o.dn, portal.Textf("exported"))
			if p.Op == ExportDelete {
				// Nothing is left to confirm: its requests are released
				// ("exported") before the object goes.
				deleted = append(deleted, p.CSID)
				b.Queue("DELETE FROM cs_objects WHERE id = $1", p.CSID)
				continue
			}
			attrs := p.attrs
			if attrs == nil {
				attrs = map[string][]string{}
			}
			if !o.joined {
				applyChanges(attrs, p.Changes)
				if p.Op == ExportAdd && p.class == ObjectUser {
					// What the add left in userAccountControl, until
					// an import reads it.
					uac := "546" // disabled, no password required
					switch {
					case p.SetPassword && p.Enable:
						uac = "512"
					case p.SetPassword:
						uac = "514"
					}
					attrs["useraccountcontrol"] = []string{uac}
				}
			}
			data, _ := json.Marshal(attrs)
			b.Queue(`UPDATE cs_objects SET anchor = $2, dn = $3, attributes = $4,
					deprovisioned_at = CASE WHEN $5 THEN coalesce(deprovisioned_at, now()) ELSE NULL END,
					export_op = NULL, export_changes = NULL, export_new_dn = '', export_status = 'pending',
					export_attempts = 0, export_error = '', export_error_text = NULL, export_updated_at = now()
				WHERE id = $1`, p.CSID, nullText(o.anchor), o.dn, data, p.Deprovision)
			if len(p.RequestIDs) > 0 {
				b.Queue(`UPDATE export_requests SET sent_at = now() WHERE cs_id = $1 AND sent_at IS NULL`, p.CSID)
			}
			if p.Op != ExportAdd && !SameDN(o.dn, p.DN) {
				queueMemberRename(b, sys.ID, p.DN, o.dn)
			}
		}
		if err := e.Requests.ExportsDroppedTx(ctx, tx, sys.Name, deleted, portal.KindExported); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		for _, r := range refused {
			if err := e.Requests.ExportsFailedTx(ctx, tx, r.ids, r.detail); err != nil {
				return err
			}
		}
		return nil
	})
}

// queueMemberRename rewrites a renamed object's DN in the member values the
// connector space holds for the system's groups: AD follows a rename in
// member itself, and reports no change of the groups.
func queueMemberRename(b *pgx.Batch, systemID, oldDN, newDN string) {
	b.Queue(`UPDATE cs_objects SET attributes = jsonb_set(attributes, '{member}',
			(SELECT coalesce(jsonb_agg(CASE WHEN lower(m) = lower($2) THEN $3 ELSE m END), '[]')
			 FROM jsonb_array_elements_text(attributes->'member') m))
		WHERE system_id = $1 AND class = 'group' AND attributes->'member' ? $2`, systemID, oldDN, newDN)
}

func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// applyChanges applies exported changes to an object's known attributes.
func applyChanges(attrs map[string][]string, changes []AttributeChange) {
	for _, c := range changes {
		k := fold(c.Name)
		switch c.Op {
		case AttributeReplace:
			if len(c.Values) == 0 {
				delete(attrs, k)
			} else {
				attrs[k] = c.Values
			}
		case AttributeAddValues:
			attrs[k] = applyMembers(attrs[k], c.Values, nil)
		case AttributeDeleteValues:
			attrs[k] = applyMembers(attrs[k], nil, c.Values)
		}
	}
}

// randomPassword makes a password no one knows that meets AD's default
// complexity rules: 24 characters from four classes.
func randomPassword() string {
	const (
		upper  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		lower  = "abcdefghijkmnopqrstuvwxyz"
		digits = "23456789"
		symbol = "!#%+-=?@_"
	)
	all := upper + lower + digits + symbol
	pick := func(set string) byte {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			panic(err)
		}
		return set[n.Int64()]
	}
	b := []byte{pick(upper), pick(lower), pick(digits), pick(symbol)}
	for len(b) < 24 {
		b = append(b, pick(all))
	}
	return string(b)
}
