package postgres_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

// testAuditKey derives the audit keys from a fixed secret; seed varies it.
func testAuditKey(t *testing.T, seed byte) *portal.AuditKey {
	t.Helper()
	secret := make([]byte, portal.SecretKeySize)
	for i := range secret {
		secret[i] = seed + byte(i)
	}
	k, err := portal.NewAuditKey(secret)
	require.NoError(t, err)
	return k
}

// keyedDB opens a pool on url whose connections carry key, as every
// Tessera process with TESSERA_SECRET_KEY does.
func keyedDB(t *testing.T, url string, key *portal.AuditKey) *postgres.DB {
	t.Helper()
	pool, err := postgres.Open(context.Background(), url, key)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return postgres.New(pool)
}

// keyedFixture returns the database's URL, a store keyed with key and an
// unkeyed one (the attacker's: the database without the key), with entries
// 1 and 2 unkeyed (written before the key was set) and 3 to 6 keyed.
func keyedFixture(t *testing.T, key *portal.AuditKey) (keyed, attacker *postgres.DB) {
	t.Helper()
	url := harness.DatabaseURL(t)
	attacker = postgres.New(harness.Pool(t, url))
	keyed = keyedDB(t, url, key)
	mustAudit(t, attacker, "sign_in", true)
	mustAudit(t, attacker, "sign_out", true)
	for _, action := range []string{"sign_in", "grant_admin", "sign_out", "sign_in"} {
		mustAudit(t, keyed, action, true)
	}
	return keyed, attacker
}

// rehashFrom re-hashes the chain from entry id on with plain SHA-256, and
// moves the tip to the result: what someone with the database but without
// the key does after editing an entry.
const rehashFrom = `DO $$ DECLARE r record; prev bytea; BEGIN
	SELECT hash INTO prev FROM audit_log WHERE id < %d ORDER BY id DESC LIMIT 1;
	FOR r IN SELECT id FROM audit_log WHERE id >= %[1]d ORDER BY id LOOP
		UPDATE audit_log SET prev_hash = prev,
			hash = audit_entry_hash(prev, at, actor_id, action, target_type, target_id, details)
			WHERE id = r.id RETURNING hash INTO prev;
	END LOOP;
	UPDATE audit_tip SET hash = prev;
END $$`

func TestVerifyAuditKeyed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := testAuditKey(t, 1)
	keyed, _ := keyedFixture(t, key)

	r, err := keyed.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.EqualValues(t, 6, r.Entries)
	require.EqualValues(t, 2, r.Unkeyed)
	require.Equal(t, "audit log intact: 6 entries (the first 2, up to entry 2, were written before the chain was keyed, with plain SHA-256)", r.String())

	// Each keyed entry's hash is HMAC-SHA-256 under the chain key derived
	// in Go, over what the plain hash covers; and it records the key's ID.
	rows, err := keyed.Pool.Query(ctx, "SELECT id, at, action, prev_hash, hash, key_id FROM audit_log ORDER BY id")
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var id int64
		var at time.Time
		var action string
		var prev, hash, keyID []byte
		require.NoError(t, rows.Scan(&id, &at, &action, &prev, &hash, &keyID))
		msg := append(append([]byte(nil), prev...),
			fmt.Sprintf("%d\x1f%s\x1f%s\x1fperson\x1f%s\x1f{\"method\": \"local\"}", at.UnixMilli(), auditActor, action, auditActor)...)
		if id <= 2 {
			require.Nil(t, keyID, "entry %d", id)
			want := sha256.Sum256(msg)
			require.Equal(t, want[:], hash, "entry %d", id)
			continue
		}
		require.Equal(t, key.ID(), hex.EncodeToString(keyID), "entry %d", id)
		mac := hmac.New(sha256.New, key.ChainKey())
		mac.Write(msg)
		require.Equal(t, mac.Sum(nil), hash, "entry %d", id)
	}
	require.NoError(t, rows.Err())
}

// TestVerifyAuditKeyedDetectsRehash plays someone with the database but
// not the key: they edit an entry and re-hash the chain after it (with
// plain SHA-256, the only hash they can compute), with or without marking
// the entries unkeyed, or append entries of their own.
func TestVerifyAuditKeyedDetectsRehash(t *testing.T) {
	t.Parallel()
	other := testAuditKey(t, 9)
	for _, tc := range []struct {
		name    string
		sql     string
		other   bool // append an entry with another key afterwards
		broken  int64
		problem string
	}{
		{name: "edited and re-hashed", sql: "UPDATE audit_log SET action = 'nothing' WHERE id = 4; " + fmt.Sprintf(rehashFrom, 4),
			broken: 4, problem: "entry 4 was changed"},
		{name: "newest edited and re-hashed", sql: "UPDATE audit_log SET action = 'nothing' WHERE id = 6; " + fmt.Sprintf(rehashFrom, 6),
			broken: 6, problem: "entry 6 was changed"},
		{name: "edited, marked unkeyed and re-hashed",
			sql:    "UPDATE audit_log SET action = 'nothing', key_id = NULL WHERE id >= 4; UPDATE audit_tip SET key_id = NULL; " + fmt.Sprintf(rehashFrom, 4),
			broken: 4, problem: "entry 4 is not keyed, yet entries before it are: it was forged or changed"},
		{name: "every keyed entry marked unkeyed and re-hashed",
			sql:    "UPDATE audit_log SET key_id = NULL; UPDATE audit_tip SET key_id = NULL; " + fmt.Sprintf(rehashFrom, 1),
			broken: 0, problem: ""}, // indistinguishable from a log never keyed: only a checkpoint shows it (below)
		{name: "appended with another key", sql: "UPDATE audit_tip SET key_id = NULL", other: true,
			broken: 7, problem: "entry 7 was keyed with key " + other.ID() + ", not with this TESSERA_SECRET_KEY (key " + testAuditKey(t, 1).ID() + "): it was forged, or the key was changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			key := testAuditKey(t, 1)
			keyed, attacker := keyedFixture(t, key)
			tip, tipHash, err := keyed.AuditTip(ctx)
			require.NoError(t, err)
			checkpoint := key.SignCheckpoint(tip, tipHash, time.Now())

			tamper(t, attacker, tc.sql)
			if tc.other {
				mustAudit(t, keyedDB(t, attacker.Pool.Config().ConnString(), other), "grant_admin", true)
			}
			r, err := keyed.VerifyAudit(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.problem, r.Problem)
			require.Equal(t, tc.broken, r.BrokenID)

			// The checkpoint written before the rewrite shows every one of them.
			r, err = keyed.VerifyAudit(ctx, checkpoint)
			require.NoError(t, err)
			require.False(t, r.Intact())
			if tc.problem == "" {
				require.Equal(t, "entry 6 is not the entry the checkpoint of "+checkpoint.At.Format(time.RFC3339)+
					" recorded: the log was rewritten", r.Problem)
			}
		})
	}
}

// TestVerifyAuditCheckpointShowsDeletedTip drops the newest entry and moves
// the tip back to the one before it: the chain is whole, and only a
// checkpoint of the tip kept outside the database shows the deletion.
func TestVerifyAuditCheckpointShowsDeletedTip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := testAuditKey(t, 1)
	keyed, attacker := keyedFixture(t, key)
	tip, tipHash, err := keyed.AuditTip(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 6, tip)
	var hash3 []byte
	require.NoError(t, keyed.Pool.QueryRow(ctx, "SELECT hash FROM audit_log WHERE id = 3").Scan(&hash3))
	early := key.SignCheckpoint(3, hash3, time.Now())
	latest := key.SignCheckpoint(tip, tipHash, time.Now())

	r, err := keyed.VerifyAudit(ctx, early, latest)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.Equal(t, 2, r.Checkpoints)
	require.Contains(t, r.String(), "; all 2 checkpoints match")

	tamper(t, attacker, `DELETE FROM audit_log WHERE id = 6;
		UPDATE audit_tip SET id = 5, hash = (SELECT hash FROM audit_log WHERE id = 5)`)
	r, err = keyed.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), "without a checkpoint, a moved tip looks like a shorter log")

	r, err = keyed.VerifyAudit(ctx, early, latest)
	require.NoError(t, err)
	require.Equal(t, "the log ends at entry 5, but the checkpoint of "+latest.At.Format(time.RFC3339)+
		" recorded entry 6: the newest entries were deleted", r.Problem)

	// Entries appended after the deletion do not hide it.
	mustAudit(t, keyed, "sign_in", true)
	r, err = keyed.VerifyAudit(ctx, latest)
	require.NoError(t, err)
	require.Equal(t, "entry 6, the newest when the checkpoint of "+latest.At.Format(time.RFC3339)+" was written, is missing", r.Problem)
	require.EqualValues(t, 7, r.BrokenID)
}

// TestAuditKeyStaysKeyed: once the log is keyed, a process without the key
// or with another cannot append (nor start), and verifying needs the key.
func TestAuditKeyStaysKeyed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := testAuditKey(t, 1)
	keyed, attacker := keyedFixture(t, key)
	other := keyedDB(t, attacker.Pool.Config().ConnString(), testAuditKey(t, 9))

	for _, db := range []*postgres.DB{attacker, other} {
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		err = postgres.Audit(ctx, tx, "", "sign_in", "person", auditActor, nil)
		require.ErrorContains(t, err, "the audit log is keyed with key "+key.ID())
		require.NoError(t, tx.Rollback(ctx))
		// Several entries at once (a request's records) are refused alike,
		// and none is written.
		var n int
		err = db.Pool.QueryRow(ctx, `SELECT audit_append_many(ARRAY[NULL, NULL]::uuid[], ARRAY['sign_in', 'sign_out'],
			ARRAY['person', 'person'], ARRAY[$1, $1]::text[], ARRAY['{}', '{}']::jsonb[])`, auditActor).Scan(&n)
		require.ErrorContains(t, err, "the audit log is keyed with key "+key.ID())
	}
	var entries int
	require.NoError(t, keyed.Pool.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&entries))
	require.Equal(t, 6, entries)
	require.NoError(t, keyed.CheckAuditKey(ctx, key))
	err := attacker.CheckAuditKey(ctx, nil)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.ErrorContains(t, err, "The audit log is keyed with key "+key.ID()+": set TESSERA_SECRET_KEY")
	require.ErrorContains(t, other.CheckAuditKey(ctx, testAuditKey(t, 9)), "and TESSERA_SECRET_KEY is key "+testAuditKey(t, 9).ID())

	_, err = attacker.VerifyAudit(ctx)
	require.Equal(t, portal.EINVALID, portal.ErrorCode(err))
	require.ErrorContains(t, err, "The audit log is keyed (from entry 3 on): verifying it needs TESSERA_SECRET_KEY.")

	// An unkeyed log lets any process append, and so does an empty one.
	require.NoError(t, postgres.New(harness.Postgres(t)).CheckAuditKey(ctx, key))
}

// TestAuditAppendManyKeyed: a keyed session's audit_append_many (a
// request's records at once) writes entries that verify under the key,
// also once PostgreSQL keeps a generic plan of its insert (after five
// calls on a connection), in the order of its arrays.
func TestAuditAppendManyKeyed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := testAuditKey(t, 1)
	keyed, _ := keyedFixture(t, key)
	conn, err := keyed.Pool.Acquire(ctx)
	require.NoError(t, err)
	for range 8 {
		var n int
		require.NoError(t, conn.QueryRow(ctx, `SELECT audit_append_many(ARRAY[$1, $1]::uuid[], ARRAY['sign_in', 'sign_out'],
			ARRAY['person', 'person'], ARRAY[$1, $1]::text[], ARRAY['{"method": "local"}', '{}']::jsonb[])`, auditActor).Scan(&n))
		require.Equal(t, 2, n)
	}
	conn.Release()
	r, err := keyed.VerifyAudit(ctx)
	require.NoError(t, err)
	require.True(t, r.Intact(), r.Problem)
	require.EqualValues(t, 22, r.Entries)
	require.EqualValues(t, 2, r.Unkeyed)
	var actions []string
	require.NoError(t, keyed.Pool.QueryRow(ctx, `SELECT array_agg(action ORDER BY id) FROM audit_log WHERE id > 6 AND key_id IS NOT NULL`).Scan(&actions))
	require.Len(t, actions, 16)
	for i, a := range actions {
		require.Equal(t, []string{"sign_in", "sign_out"}[i%2], a, "entry %d", i+7)
	}
}
