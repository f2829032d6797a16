package postgres_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// The person attribute table says what the people table holds: each core
// attribute's column exists with its type and nullability, and its checks
// accept exactly MaxLen characters and an empty value only when the
// attribute is not required.
func TestAttributeTableMatchesPeople(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := setup(t)
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	var id string
	require.NoError(t, tx.QueryRow(ctx, "SELECT id FROM people LIMIT 1").Scan(&id))
	set := func(a portal.Attribute, v string) error {
		sp, err := tx.Begin(ctx)
		require.NoError(t, err)
		_, err = sp.Exec(ctx, "UPDATE people SET "+pgx.Identifier{a.Column}.Sanitize()+" = $2 WHERE id = $1", id, v)
		if err != nil {
			require.NoError(t, sp.Rollback(ctx))
			return err
		}
		return sp.Commit(ctx)
	}
	checkViolation := func(err error) bool {
		var pgErr *pgconn.PgError
		return errors.As(err, &pgErr) && pgErr.Code == "23514"
	}
	sqlTypes := map[string]string{portal.TypeString: "text", portal.TypeReference: "uuid", portal.TypeBool: "boolean"}
	for _, a := range portal.CoreSchema().All() {
		var dataType, nullable string
		err := tx.QueryRow(ctx, `SELECT data_type, is_nullable FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'people' AND column_name = $1`, a.Column).Scan(&dataType, &nullable)
		require.NoError(t, err, "%s: column %s", a.Name, a.Column)
		require.Equal(t, sqlTypes[a.Type], dataType, a.Name)
		require.Equal(t, a.Nullable, nullable == "YES", a.Name)
		if a.Type != portal.TypeString {
			continue
		}
		require.Positive(t, a.MaxLen, a.Name)
		require.NoError(t, set(a, strings.Repeat("é", a.MaxLen)), "%s holds %d characters", a.Name, a.MaxLen)
		require.True(t, checkViolation(set(a, strings.Repeat("é", a.MaxLen+1))), "%s holds no more than %d", a.Name, a.MaxLen)
		if !a.Nullable {
			require.Equal(t, a.Required, checkViolation(set(a, "")), "%s: required", a.Name)
		}
	}
}
