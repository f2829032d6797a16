package postgres

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

var (
	_ portal.AuditVerifier     = (*DB)(nil)
	_ portal.AuditCheckpointer = (*DB)(nil)
)

// VerifyAudit walks the audit log in id order and recomputes each entry's
// hash with audit_entry_mac, the function audit_append uses: HMAC under this
// session's chain key for keyed entries, plain SHA-256 for the unkeyed ones
// the log may begin with. It reports the first entry whose fields no longer
// match its hash (changed), whose prev_hash is not the hash of the entry
// before it (an entry deleted or forged), that is unkeyed after a keyed one
// or keyed with another key, that differs from a checkpoint, and, at the
// end, whether the log still ends where audit_tip and the checkpoints say.
//
// Identity ids have gaps after rolled-back transactions, so gaps alone prove
// nothing; only the chain does. The rows stream from one repeatable-read
// snapshot, so appends made meanwhile are neither half-seen nor reported.
// It first links what was committed (ChainAudit); entries still waiting to
// be chained after the tip are checked by their own MAC.
func (db *DB) VerifyAudit(ctx context.Context, checkpoints ...portal.AuditCheckpoint) (portal.AuditReport, error) {
	var r portal.AuditReport
	if err := db.ChainAudit(ctx); err != nil {
		return r, err
	}
	cps := slices.Clone(checkpoints)
	slices.SortFunc(cps, func(a, b portal.AuditCheckpoint) int { return cmp.Compare(a.EntryID, b.EntryID) })
	err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var tipID int64
		var tipHash, sessionKeyID []byte
		err := tx.QueryRow(ctx, "SELECT id, hash, (SELECT audit_key_id(audit_session_key())) FROM audit_tip").Scan(&tipID, &tipHash, &sessionKeyID)
		if isNoRows(err) {
			r.Problem = "the audit tip (the record of the newest entry) was deleted"
			return nil
		} else if err != nil {
			return err
		}

		// Keyed entries are recomputed with the session's key, so that the
		// key never appears in a statement. An entry waiting to be chained
		// (no hash yet) is recomputed as its writer made its entry_mac: over
		// its id in place of the previous hash.
		rows, err := tx.Query(ctx, `SELECT id, prev_hash, hash, key_id, entry_mac,
			audit_entry_mac(CASE WHEN key_id IS NOT NULL THEN audit_session_key() END,
				CASE WHEN hash IS NULL THEN int8send(id) ELSE prev_hash END, at, actor_id, action, target_type, target_id, details)
			FROM audit_log ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var id int64
		var prevHash, hash, keyID, entryMAC, computed []byte
		keyed := false
		for rows.Next() {
			if err := rows.Scan(&id, &prevHash, &hash, &keyID, &entryMAC, &computed); err != nil {
				return err
			}
			if keyID != nil && sessionKeyID == nil {
				return portal.Errorf(portal.EINVALID, "The audit log is keyed (from entry %d on): verifying it needs %s.", id, portal.SecretKeyEnv)
			}
			if hash == nil {
				// Waiting to be chained: it can only follow the tip.
				problem := keyProblem(id, keyID, sessionKeyID, keyed)
				if problem == "" {
					problem = waitingProblem(id, entryMAC, computed, tipID)
				}
				if problem != "" {
					r.BrokenID, r.Problem = id, problem
					return nil
				}
				r.Waiting++
				keyed = keyed || keyID != nil
				continue
			}
			r.Entries++
			problem := keyProblem(id, keyID, sessionKeyID, keyed)
			if problem == "" {
				problem = chainProblem(r.LastID, r.LastHash, id, prevHash, hash, computed, tipID)
			}
			if problem == "" {
				problem, cps = checkpointProblem(cps, id, hash)
			}
			if problem != "" {
				r.BrokenID, r.Problem = id, problem
				return nil
			}
			if keyID == nil {
				r.Unkeyed, r.LastUnkeyedID = r.Unkeyed+1, id
			}
			keyed = keyed || keyID != nil
			// Copy: the next Scan may reuse hash's memory.
			r.LastID, r.LastHash = id, append(r.LastHash[:0], hash...)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		switch {
		case r.LastID < tipID && r.Entries == 0:
			r.Problem = fmt.Sprintf("all entries were deleted (the newest was %d)", tipID)
		case r.LastID < tipID:
			r.Problem = fmt.Sprintf("the last entries after %d were deleted (the newest was %d)", r.LastID, tipID)
		case !bytes.Equal(r.LastHash, tipHash):
			// Same id, other hash: the newest entry was replaced by one
			// whose hash was recomputed to fit its new fields.
			r.BrokenID, r.Problem = r.LastID, fmt.Sprintf("entry %d was changed", r.LastID)
		}
		for _, c := range cps {
			if r.Problem != "" {
				break
			}
			if c.EntryID > r.LastID {
				// The tip was moved back with the entries: only the
				// checkpoint, kept outside the database, remembers them.
				r.Problem = fmt.Sprintf("the log ends at entry %d, but the checkpoint of %s recorded entry %d: the newest entries were deleted",
					r.LastID, checkpointTime(c), c.EntryID)
			}
		}
		r.Checkpoints = len(checkpoints)
		return nil
	})
	if err != nil {
		if portal.ErrorCode(err) != portal.EINTERNAL {
			return portal.AuditReport{}, err
		}
		return portal.AuditReport{}, fmt.Errorf("postgres: verify audit: %w", err)
	}
	return r, nil
}

// keyProblem says what is wrong with entry id's key, given the session's
// key and whether a keyed entry came before it, or "" when it is sound.
func keyProblem(id int64, keyID, sessionKeyID []byte, keyedBefore bool) string {
	switch {
	case keyID == nil && keyedBefore:
		// Only the start of the log may be unkeyed; an attacker without
		// the key would otherwise re-hash an entry with plain SHA-256.
		return fmt.Sprintf("entry %d is not keyed, yet entries before it are: it was forged or changed", id)
	case keyID != nil && !bytes.Equal(keyID, sessionKeyID):
		return fmt.Sprintf("entry %d was keyed with key %s, not with this %s (key %s): it was forged, or the key was changed",
			id, hex.EncodeToString(keyID), portal.SecretKeyEnv, hex.EncodeToString(sessionKeyID))
	}
	return ""
}

// chainProblem says what is wrong with entry id given the entry read before
// it (lastID 0 for none), or "" when it is sound.
func chainProblem(lastID int64, lastHash []byte, id int64, prevHash, hash, computed []byte, tipID int64) string {
	switch {
	case id > tipID:
		// audit_append never recorded it, whether or not its hash fits.
		return fmt.Sprintf("entry %d was forged: the log should end at entry %d", id, tipID)
	case !bytes.Equal(hash, computed):
		return fmt.Sprintf("entry %d was changed", id)
	case bytes.Equal(prevHash, lastHash):
		return ""
	case lastID == 0:
		return fmt.Sprintf("the entries before %d were deleted", id)
	case id == lastID+2:
		return fmt.Sprintf("entry %d is missing before %d", lastID+1, id)
	case id > lastID+2:
		return fmt.Sprintf("entries between %d and %d are missing", lastID, id)
	}
	// Adjacent ids that do not chain: one of the two was rewritten with a
	// recomputed hash, or inserted into a gap the sequence had left.
	return fmt.Sprintf("entry %d does not follow entry %d: one of them was forged or changed", id, lastID)
}

// waitingProblem says what is wrong with entry id, which waits to be
// chained, or "" when its own MAC still covers it.
func waitingProblem(id int64, entryMAC, computed []byte, tipID int64) string {
	switch {
	case id <= tipID:
		// The chain went past it: the sequencer never left one behind.
		return fmt.Sprintf("entry %d was forged: it is not in the chain, which goes on to entry %d", id, tipID)
	case !bytes.Equal(entryMAC, computed):
		return fmt.Sprintf("entry %d was changed", id)
	}
	return ""
}

// checkpointProblem checks entry id against the checkpoints (sorted by
// entry) that recorded it or an entry before it, and returns the ones still
// ahead.
func checkpointProblem(cps []portal.AuditCheckpoint, id int64, hash []byte) (string, []portal.AuditCheckpoint) {
	for len(cps) > 0 && cps[0].EntryID <= id {
		c := cps[0]
		switch {
		case c.EntryID == 0:
			// A checkpoint of the empty log: nothing to compare.
		case c.EntryID < id:
			return fmt.Sprintf("entry %d, the newest when the checkpoint of %s was written, is missing", c.EntryID, checkpointTime(c)), cps
		case !bytes.Equal(c.Hash, hash):
			return fmt.Sprintf("entry %d is not the entry the checkpoint of %s recorded: the log was rewritten", id, checkpointTime(c)), cps
		}
		cps = cps[1:]
	}
	return "", cps
}

func checkpointTime(c portal.AuditCheckpoint) string { return c.At.UTC().Format(time.RFC3339) }

// AuditTip returns the newest entry's id and hash, as audit_tip records
// them (0 and nil when the log is empty), after linking what was committed.
func (db *DB) AuditTip(ctx context.Context) (int64, []byte, error) {
	var id int64
	var hash []byte
	if err := db.ChainAudit(ctx); err != nil {
		return 0, nil, err
	}
	if err := db.Pool.QueryRow(ctx, "SELECT id, hash FROM audit_tip").Scan(&id, &hash); err != nil {
		return 0, nil, fmt.Errorf("postgres: audit tip: %w", err)
	}
	return id, hash, nil
}

// CheckAuditKey refuses to run Tessera with another key than the one the
// audit log is keyed with, or with none once it is keyed: the appends would
// fail (audit_append refuses them), so say why at start instead.
func (db *DB) CheckAuditKey(ctx context.Context, key *portal.AuditKey) error {
	var keyID []byte
	if err := db.Pool.QueryRow(ctx, "SELECT audit_log_key()").Scan(&keyID); err != nil {
		return fmt.Errorf("postgres: audit key: %w", err)
	}
	switch {
	case keyID == nil:
		return nil
	case key == nil:
		return portal.Errorf(portal.EINVALID, "The audit log is keyed with key %x: set %s to the key it was written with.",
			keyID, portal.SecretKeyEnv)
	case hex.EncodeToString(keyID) != key.ID():
		return portal.Errorf(portal.EINVALID, "The audit log is keyed with key %x, and %s is key %s: set it to the key the log was written with.",
			keyID, portal.SecretKeyEnv, key.ID())
	}
	return nil
}

// auditUUID matches a UUID in an audit entry's target or details.
var auditUUID = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// nameAuditEntries gives a page of audit entries the names of what they
// name by ID (people, groups, connected systems, policies, workflows, sets,
// calendars, requests and approvals, by what they ask for): TargetName,
// and in Details each ID in a JSON string replaced by its name. IDs of
// things since deleted stay as they are. One round trip for the page.
func (db *DB) nameAuditEntries(ctx context.Context, entries []portal.AuditEntry) error {
	seen := map[string]bool{}
	var ids []string
	for _, e := range entries {
		for _, id := range append(auditUUID.FindAllString(e.Details, -1), e.TargetID) {
			if validID(id) && !seen[strings.ToLower(id)] {
				seen[strings.ToLower(id)] = true
				ids = append(ids, strings.ToLower(id))
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	names := make(map[string]string, len(ids))
	b := &pgx.Batch{}
	b.Queue(`SELECT i.id::text, n.name FROM unnest($1::text[]::uuid[]) AS i(id) CROSS JOIN LATERAL (
			SELECT display_name FROM people WHERE id = i.id
			UNION ALL SELECT display_name FROM groups WHERE id = i.id
			UNION ALL SELECT name FROM connected_systems WHERE id = i.id
			UNION ALL SELECT name FROM policies WHERE id = i.id
			UNION ALL SELECT name FROM approval_workflows WHERE id = i.id
			UNION ALL SELECT name FROM sets WHERE id = i.id
			UNION ALL SELECT name FROM holiday_calendars WHERE id = i.id) AS n(name)`, ids).
		Query(func(rows pgx.Rows) error {
			var id, name string
			_, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { names[id] = name; return nil })
			return err
		})
	// A request (or its approval) is named by what it asks for.
	b.Queue(`SELECT x.id::text, coalesce(r.requester_id::text, ''), r.operation, coalesce(g.display_name, ''),
			coalesce(r.person_id::text, ''), coalesce(p.display_name, '')
		FROM (SELECT id, id AS request_id FROM requests WHERE id = ANY ($1::text[]::uuid[])
			UNION ALL SELECT id, request_id FROM approvals WHERE id = ANY ($1::text[]::uuid[])) AS x
		JOIN requests r ON r.id = x.request_id
		LEFT JOIN groups g ON g.id = r.group_id LEFT JOIN people p ON p.id = r.person_id`, ids).
		Query(func(rows pgx.Rows) error {
			var id, op string
			var r portal.Request
			_, err := pgx.ForEachRow(rows, []any{&id, &r.RequesterID, &op, &r.GroupName, &r.PersonID, &r.PersonName}, func() error {
				r.Operation = portal.Operation(op)
				names[id] = "“" + r.Summary() + "”"
				return nil
			})
			return err
		})
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for i := range entries {
		e := &entries[i]
		e.TargetName = names[strings.ToLower(e.TargetID)]
		e.Details = auditUUID.ReplaceAllStringFunc(e.Details, func(id string) string {
			if name, ok := names[strings.ToLower(id)]; ok {
				return jsonStringBody(name)
			}
			return id
		})
	}
	return nil
}

// jsonStringBody is s escaped as it would be inside a JSON string (HTML
// characters left as they are: the page escapes them).
func jsonStringBody(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) //nolint:errcheck // a string always encodes
	out := strings.TrimSpace(b.String())
	return out[1 : len(out)-1]
}
