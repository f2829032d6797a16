package postgres

import (
	"bytes"
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

var _ portal.AuditVerifier = (*DB)(nil)

// VerifyAudit walks the audit log in id order and recomputes each entry's
// hash with audit_entry_hash, the function audit_append uses. It reports the
// first entry whose fields no longer match its hash (changed), whose
// prev_hash is not the hash of the entry before it (an entry deleted or
// forged), and, at the end, whether the log still ends where audit_tip says.
//
// Identity ids have gaps after rolled-back transactions, so gaps alone prove
// nothing; only the chain does. The rows stream from one repeatable-read
// snapshot, so appends made meanwhile are neither half-seen nor reported.
func (db *DB) VerifyAudit(ctx context.Context) (portal.AuditReport, error) {
	var r portal.AuditReport
	err := pgx.BeginTxFunc(ctx, db.Pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var tipID int64
		var tipHash []byte
		err := tx.QueryRow(ctx, "SELECT id, hash FROM audit_tip").Scan(&tipID, &tipHash)
		if isNoRows(err) {
			r.Problem = "the audit tip (the record of the newest entry) was deleted"
			return nil
		} else if err != nil {
			return err
		}

		rows, err := tx.Query(ctx, `SELECT id, prev_hash, hash,
			audit_entry_hash(prev_hash, at, actor_id, action, target_type, target_id, details)
			FROM audit_log ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var id int64
		var prevHash, hash, computed []byte
		for rows.Next() {
			if err := rows.Scan(&id, &prevHash, &hash, &computed); err != nil {
				return err
			}
			r.Entries++
			if problem := chainProblem(r.LastID, r.LastHash, id, prevHash, hash, computed, tipID); problem != "" {
				r.BrokenID, r.Problem = id, problem
				return nil
			}
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
		return nil
	})
	if err != nil {
		return portal.AuditReport{}, fmt.Errorf("postgres: verify audit: %w", err)
	}
	return r, nil
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
