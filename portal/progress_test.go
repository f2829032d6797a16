package portal

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tessera-idm/tessera/portal/i18n"
)

func TestProgress(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	ev := func(kinds ...EventKind) []RequestEvent {
		var es []RequestEvent
		for _, k := range kinds {
			es = append(es, RequestEvent{At: at, Kind: k, Detail: map[EventKind]Text{KindExported: Textf("Exported to %s", "Demo AD"),
				KindExportFailed: Textf("%s", "Demo AD refused the change")}[k]})
		}
		return es
	}
	approval := func(status string, decisions ...string) *ApprovalState {
		a := &ApprovalState{Status: status, Needed: 2}
		for i, name := range []string{"Mateo", "Siobhán", "Kai"} {
			ap := Approver{PersonID: name, Name: name}
			if i < len(decisions) {
				ap.Decision = decisions[i]
			}
			a.Approvers = append(a.Approvers, ap)
		}
		// Kai is Siobhán's deputy: one decision between them.
		a.Approvers[2].OnBehalfOf = "Siobhán"
		return a
	}
	line := func(d RequestDetail) string {
		var out []string
		for _, s := range d.Progress() {
			out = append(out, string(s.State)+":"+s.Label.String())
		}
		return strings.Join(out, " → ")
	}
	for _, tc := range []struct {
		name string
		d    RequestDetail
		want string
	}{
		{"approvers not found yet", RequestDetail{Request: Request{Status: StatusAuthorizing}, Events: ev(KindSubmitted)},
			"done:Requested → current:Approval → waiting:Applied → waiting:Exported → waiting:Done"},
		{"one of two approved", RequestDetail{Request: Request{Status: StatusAuthorizing}, Events: ev(KindSubmitted, KindApprovalRequested),
			Approval: approval("pending", "approved")},
			"done:Requested → current:Approval: 1 of 2 → waiting:Applied → waiting:Exported → waiting:Done"},
		{"a deputy's approval counts once", RequestDetail{Request: Request{Status: StatusAuthorizing}, Events: ev(KindSubmitted),
			Approval: approval("pending", "approved", "", "approved")},
			"done:Requested → current:Approval: 2 of 2 → waiting:Applied → waiting:Exported → waiting:Done"},
		{"rejected", RequestDetail{Request: Request{Status: StatusDenied}, Events: ev(KindSubmitted, KindRejected),
			Approval: approval("rejected", "rejected")},
			"done:Requested → failed:Approval: 0 of 2 → failed:Rejected"},
		{"sent, waiting for the system", RequestDetail{Request: Request{Status: StatusCommitted}, Events: ev(KindSubmitted, KindCommitted),
			Exports: []ExportState{{System: "Demo AD", Sent: true}}},
			"done:Requested → done:Approval → done:Applied → current:Exporting to Demo AD → waiting:Done"},
		{"confirmed by one, refused by another", RequestDetail{Request: Request{Status: StatusFailed},
			Events: ev(KindSubmitted, KindCommitted, KindExported, KindExportFailed), Exports: []ExportState{{System: "Entra", Error: Textf("%s", "no")}}},
			"done:Requested → done:Approval → done:Applied → done:Exported to Demo AD → failed:Export failed → failed:Exporting to Entra → failed:Failed"},
		{"done without systems", RequestDetail{Request: Request{Status: StatusCompleted}, Events: ev(KindSubmitted, KindCommitted, KindCompleted)},
			"done:Requested → done:Approval → done:Applied → done:No export needed → done:Done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, line(tc.d))
		})
	}
	a := approval("pending", "", "", "")
	require.Equal(t, []string{"Mateo", "Siobhán"}, a.Waiting(), "a deputy is not named: the approver is")
}

// TestProgressGerman: the approval step says who decided and who is
// awaited in the reader's language, and a timeline entry stored as text
// (request_events.detail_text) reads German too.
func TestProgressGerman(t *testing.T) {
	t.Parallel()
	d := RequestDetail{Request: Request{Status: StatusAuthorizing}, Approval: &ApprovalState{Status: "pending", Needed: 2,
		Approvers: []Approver{{PersonID: "m", Name: "Mateo", Decision: "approved"}, {PersonID: "s", Name: "Siobhán"}}}}
	de := i18n.For("de")
	steps := d.Progress()
	require.Equal(t, "Genehmigung: 1 von 2", de.Text(steps[1].Label))
	require.Equal(t, "Mateo hat genehmigt; wartet auf Siobhán", de.Text(steps[1].Detail))
	require.Equal(t, "Mateo approved; waiting for Siobhán", i18n.English().Text(steps[1].Detail))

	stored := Textf("Canceled by an administrator: %s", "not needed").Stored()
	got, err := ReadStored(stored, "Canceled by an administrator: not needed", EventText)
	require.NoError(t, err)
	require.Equal(t, "Von einem Administrator abgebrochen: not needed", de.Text(got))
	old, err := ReadStored(nil, "Exported to Demo AD", EventText)
	require.NoError(t, err)
	require.Equal(t, "Exportiert nach Demo AD", de.Text(old), "a row stored before reads German too")
	none, err := ReadStored(nil, "", EventText)
	require.NoError(t, err)
	require.True(t, none.IsZero())
}
