package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

func newSealer(t *testing.T) *portal.Sealer {
	t.Helper()
	key := make([]byte, portal.SecretKeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	s, err := portal.NewSealer(key)
	require.NoError(t, err)
	return s
}

func TestConnectedSystemStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	ada, zoe := demoViewer(t, org, "ada"), demoViewer(t, org, "zoe")
	store := postgres.NewConnectedSystems(db, newSealer(t))
	require.True(t, store.CanSealSecrets())
	const password = "Bind-Pässword-1"

	sealedOf := func(id string) []byte {
		var b []byte
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT bind_password_sealed FROM connected_systems WHERE id = $1", id).Scan(&b))
		return b
	}

	c, err := store.CreateConnectedSystem(ctx, ada, portal.ConnectedSystem{Name: "Corp AD", Hosts: []string{"dc1.corp.example.com", "dc2.corp.example.com"},
		TLSMode: portal.TLSLDAPS, BindUser: "svc-tessera@corp.example.com", BindPassword: password,
		BaseDN: "DC=corp,DC=example,DC=com", OUs: []string{"OU=People,DC=corp,DC=example,DC=com"}, Enabled: true})
	require.NoError(t, err)
	require.NotEmpty(t, c.ID)
	require.Empty(t, c.BindPassword, "never read back")
	require.True(t, c.HasPassword)
	require.Equal(t, 636, c.Port)
	require.False(t, c.CreatedAt.IsZero())

	sealed := sealedOf(c.ID)
	require.False(t, bytes.Contains(sealed, []byte(password)), "the column holds no plaintext")
	require.Equal(t, byte(1), sealed[0])
	got, err := store.BindPassword(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, password, got)

	found, err := store.FindConnectedSystem(ctx, c.ID)
	require.NoError(t, err)
	require.Equal(t, c, found)
	list, err := store.ListConnectedSystems(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Empty(t, list[0].BindPassword)

	t.Run("refusals", func(t *testing.T) {
		_, err := store.CreateConnectedSystem(ctx, zoe, portal.ConnectedSystem{Name: "Mine"})
		requireCode(t, portal.EFORBIDDEN, err, "Only administrators change connected systems.")
		requireCode(t, portal.EFORBIDDEN, store.DeleteConnectedSystem(ctx, zoe, c.ID), "Only administrators")
		_, err = store.CreateConnectedSystem(ctx, ada, portal.ConnectedSystem{Name: "corp ad", Hosts: []string{"dc9"}, TLSMode: portal.TLSLDAPS,
			BindUser: "x", BindPassword: "y", BaseDN: "DC=corp"})
		requireCode(t, portal.ECONFLICT, err, "A connected system named “corp ad” already exists")
		_, err = store.CreateConnectedSystem(ctx, ada, portal.ConnectedSystem{Name: "No password", Hosts: []string{"dc9"},
			TLSMode: portal.TLSLDAPS, BindUser: "x", BaseDN: "DC=corp"})
		requireCode(t, portal.EINVALID, err, "Give the bind account's password.")
		_, err = store.FindConnectedSystem(ctx, noSuchID)
		requireCode(t, portal.ENOTFOUND, err, "There is no such connected system.")
		_, err = store.FindConnectedSystem(ctx, "not-an-id")
		requireCode(t, portal.ENOTFOUND, err, "There is no such connected system.")

		noKey := postgres.NewConnectedSystems(db, nil)
		require.False(t, noKey.CanSealSecrets())
		_, err = noKey.CreateConnectedSystem(ctx, ada, portal.ConnectedSystem{Name: "Keyless", Hosts: []string{"dc9"},
			TLSMode: portal.TLSLDAPS, BindUser: "x", BindPassword: "y", BaseDN: "DC=corp"})
		requireCode(t, portal.EINVALID, err, "Set TESSERA_SECRET_KEY")
		_, err = noKey.BindPassword(ctx, c.ID)
		require.ErrorContains(t, err, "TESSERA_SECRET_KEY")
		list, err := noKey.ListConnectedSystems(ctx)
		require.NoError(t, err)
		require.Len(t, list, 1, "listing needs no key")

		_, err = postgres.NewConnectedSystems(db, newSealer(t)).BindPassword(ctx, c.ID)
		require.ErrorIs(t, err, portal.ErrSecretTampered, "another key does not open it")
	})

	t.Run("update keeps the password unless a new one is typed", func(t *testing.T) {
		edit := *found
		edit.Name, edit.OUs, edit.Enabled = "Corp AD (prod)", nil, false
		saved, err := store.UpdateConnectedSystem(ctx, ada, edit)
		require.NoError(t, err)
		require.Equal(t, "Corp AD (prod)", saved.Name)
		require.Empty(t, saved.OUs)
		require.False(t, saved.Enabled)
		require.True(t, saved.UpdatedAt.After(c.UpdatedAt) || saved.UpdatedAt.Equal(c.UpdatedAt))
		got, err := store.BindPassword(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, password, got, "blank keeps the old password")
		require.Equal(t, sealed, sealedOf(c.ID), "not even resealed")

		moved := *saved
		moved.Hosts = []string{"dc1.corp.example.com", "attacker.example.net"}
		_, err = store.UpdateConnectedSystem(ctx, ada, moved)
		requireCode(t, portal.EINVALID, err, "type the bind password again")
		moved.Port = 3269
		moved.Hosts = saved.Hosts
		_, err = store.UpdateConnectedSystem(ctx, ada, moved)
		requireCode(t, portal.EINVALID, err, "type the bind password again")

		moved.BindPassword = "New-Pässword-2"
		_, err = store.UpdateConnectedSystem(ctx, ada, moved)
		require.NoError(t, err)
		got, err = store.BindPassword(ctx, c.ID)
		require.NoError(t, err)
		require.Equal(t, "New-Pässword-2", got)
		require.NotEqual(t, sealed, sealedOf(c.ID))
	})

	t.Run("tampering is detected", func(t *testing.T) {
		other, err := store.CreateConnectedSystem(ctx, ada, portal.ConnectedSystem{Name: "Lab AD", Hosts: []string{"10.0.0.9"},
			TLSMode: portal.TLSStartTLS, BindUser: `LAB\svc`, BindPassword: "Lab-Password-3", BaseDN: "DC=lab,DC=example,DC=com"})
		require.NoError(t, err)
		// A sealed password copied into another row does not open there.
		_, err = db.Pool.Exec(ctx, `UPDATE connected_systems SET bind_password_sealed =
			(SELECT bind_password_sealed FROM connected_systems WHERE id = $2) WHERE id = $1`, other.ID, c.ID)
		require.NoError(t, err)
		_, err = store.BindPassword(ctx, other.ID)
		require.ErrorIs(t, err, portal.ErrSecretTampered)
		// A flipped bit does not open either.
		_, err = db.Pool.Exec(ctx, `UPDATE connected_systems SET bind_password_sealed =
			set_byte(bind_password_sealed, 20, get_byte(bind_password_sealed, 20) # 1) WHERE id = $1`, c.ID)
		require.NoError(t, err)
		_, err = store.BindPassword(ctx, c.ID)
		require.ErrorIs(t, err, portal.ErrSecretTampered)
		require.NoError(t, store.DeleteConnectedSystem(ctx, ada, other.ID))
		_, err = store.FindConnectedSystem(ctx, other.ID)
		requireCode(t, portal.ENOTFOUND, err, "There is no such connected system.")
	})

	t.Run("audit holds the viewer and no secret", func(t *testing.T) {
		rows, err := db.Pool.Query(ctx, `SELECT action, coalesce(actor_id::text, ''), details::text FROM audit_log
			WHERE target_type = 'connected_system' ORDER BY id`)
		require.NoError(t, err)
		var actions []string
		for rows.Next() {
			var action, actor, details string
			require.NoError(t, rows.Scan(&action, &actor, &details))
			actions = append(actions, action)
			require.Equal(t, ada.PersonID, actor, action)
			for _, secret := range []string{password, "New-Pässword-2", "Lab-Password-3", "sealed"} {
				require.NotContains(t, details, secret, action)
			}
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{"connected_system_create", "connected_system_update", "connected_system_update",
			"connected_system_create", "connected_system_delete"}, actions)
		var all string
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT string_agg(details::text, ' ') FROM audit_log").Scan(&all))
		require.False(t, strings.Contains(all, password), "no password anywhere in the log")
	})
}
