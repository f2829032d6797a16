package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal"
)

// committedChanges returns the "changes" of a request's request_committed
// audit entry.
func committedChanges(t *testing.T, p *pipeline, requestID string) map[string]portal.AttributeChange {
	t.Helper()
	var changes map[string]portal.AttributeChange
	require.NoError(t, p.db.Pool.QueryRow(p.ctx, `SELECT details->'changes' FROM audit_log
		WHERE action = 'request_committed' AND target_id = $1`, requestID).Scan(&changes))
	return changes
}

// TestProfileChangeAuditsOldAndNew: the audit entry of a profile change
// says what each attribute was and what it became, whether the change was
// granted at once or approved.
func TestProfileChangeAuditsOldAndNew(t *testing.T) {
	t.Parallel()
	p := newPipeline(t)
	zoe, mateo := p.account("end user"), p.account("manager")
	before, err := p.db.FindProfile(p.ctx, zoe.PersonID)
	require.NoError(t, err)

	r, err := p.db.Submit(p.ctx, zoe, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.PersonID,
		Changes: map[string]string{"phone": "+1 514 555 0199"}})
	require.NoError(t, err)
	require.Equal(t, portal.StatusCompleted, r.Status)
	require.Equal(t, map[string]portal.AttributeChange{"phone": {Old: before.Person.Phone, New: "+1 514 555 0199"}},
		committedChanges(t, p, r.ID))

	r, err = p.db.Submit(p.ctx, zoe, portal.NewRequest{Operation: portal.OpUpdatePerson, PersonID: zoe.PersonID,
		Changes: map[string]string{"title": "Staff Engineer"}})
	require.NoError(t, err)
	require.NoError(t, p.db.Decide(p.ctx, mateo, p.approvalFor(mateo, r.ID), true, "well deserved"))
	p.waitStatus(zoe, r.ID, portal.StatusCompleted)
	require.Equal(t, map[string]portal.AttributeChange{"title": {Old: before.Person.Title, New: "Staff Engineer"}},
		committedChanges(t, p, r.ID))
}

// TestSettingChangesAuditOldValues: policies, workflows, sets and calendars
// record the values a change replaced, beside the new ones.
func TestSettingChangesAuditOldValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, org := setup(t)
	ada := demoViewer(t, org, "ada")
	set, err := db.CreateSet(ctx, ada, portal.Set{Name: "Sales people", Rule: `person.department == "Sales"`})
	require.NoError(t, err)
	set.Name, set.Rule = "Sales and IT", `person.department in ["Sales", "IT"]`
	_, err = db.UpdateSet(ctx, ada, set)
	require.NoError(t, err)
	var details map[string]any
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT details FROM audit_log WHERE action = 'set_updated' AND target_id = $1`, set.ID).Scan(&details))
	require.Equal(t, map[string]any{"name": "Sales people", "rule": `person.department == "Sales"`}, details["before"])
	require.Equal(t, "Sales and IT", details["name"])
	require.Equal(t, []any{"name", "rule"}, details["changed"])
}
