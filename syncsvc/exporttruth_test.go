package syncsvc_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/e2e/harness"
	"github.com/tessera-idm/tessera/syncsvc"
)

// converge runs the cycle that brings a new fixture's system in step.
func (f *fixture) converge(t *testing.T) {
	t.Helper()
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		f.run(t, p)
	}
}

// A name change that AD refuses (a given name over its 64 characters)
// leaves the account as it was: not renamed to the new display name with
// the old given name.
func TestRefusedModifyUndoesTheRename(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	ann := f.person(t, "ann"+f.prefix, "Ann Lee", "IT")
	f.rules(t, nil)
	f.converge(t)
	oldDN := "CN=Ann Lee,OU=People," + f.ou
	require.Equal(t, oldDN, f.entry(t, "ann"+f.prefix).DN)

	_, err := f.pool.Exec(ctx, `UPDATE people SET given_name = $2, surname = 'Leeson', display_name = 'Ann Leeson',
		updated_at = now() WHERE id = $1`, ann, strings.Repeat("G", 65))
	require.NoError(t, err)
	f.run(t, syncsvc.FullSync)
	exp, err := f.engine.Run(ctx, f.sys.ID, syncsvc.Export, syncsvc.RunOptions{})
	require.NoError(t, err)
	require.Equal(t, 1, exp.Counts.Errors, "AD refuses the given name: %+v", exp.Counts)

	e := f.entry(t, "ann"+f.prefix, "givenName", "sn", "displayName")
	require.Equal(t, oldDN, e.DN, "the rename is undone")
	require.Equal(t, "Ann", e.GetAttributeValue("givenName"))
	require.Equal(t, "Lee", e.GetAttributeValue("sn"))
	require.Equal(t, "Ann Lee", e.GetAttributeValue("displayName"))
	pending, err := f.engine.PendingExports(ctx, f.sys.ID, true, 10)
	require.NoError(t, err)
	require.Len(t, pending, 1, "the export waits, with AD's error")
	require.Equal(t, oldDN, pending[0].DN)
}

// A delta cycle whose watermark cannot be read stops with the error: it
// does not take the watermark for missing and run a full import.
func TestCycleStopsWhenTheWatermarkCannotBeRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, harness.Samba(t))
	ctx := context.Background()
	f.rules(t, nil)
	_, err := f.pool.Exec(ctx, "ALTER TABLE connected_systems RENAME COLUMN watermark TO watermark_gone")
	require.NoError(t, err)
	err = f.engine.Cycle(ctx, f.sys.ID)
	require.Error(t, err)
	require.Contains(t, err.Error(), "watermark")
	runs, err := f.engine.Runs(ctx, f.sys.ID, 10)
	require.NoError(t, err)
	require.Empty(t, runs, "no import was started")
}
