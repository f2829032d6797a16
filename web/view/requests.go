package view

import (
	"context"
	"net/url"
	"slices"
	"strconv"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

func adminRequestURL(id string) string { return "/admin/requests/" + url.PathEscape(id) }

// ApprovalsURL is where a bulk decision returns to: the page of My
// approvals it was made on.
func ApprovalsURL(f portal.ApprovalFilter, offset int) string { return approvalsURL(f, offset) }

// approvalsURL links to a page of My approvals with the filter f.
func approvalsURL(f portal.ApprovalFilter, offset int) string {
	v := url.Values{}
	for k, s := range map[string]string{"requester": f.Requester, "group": f.Group, "kind": string(f.Kind), "due": f.Due, "sort": f.Sort} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return "/approvals"
	}
	return "/approvals?" + v.Encode()
}

// sortedKeys are the keys of m in order, so that a page lists a request's
// changes the same way each time.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// stepStateLabel says a progress step's state in words, for screen
// readers (the page shows it by colour and mark).
func stepStateLabel(ctx context.Context, s portal.StepState) string {
	switch s {
	case portal.StepDone:
		return i18n.T(ctx, "Done")
	case portal.StepCurrent:
		return i18n.T(ctx, "In progress")
	case portal.StepFailed:
		return i18n.T(ctx, "Stopped")
	}
	return i18n.T(ctx, "Not yet")
}

// approvalsShown says which of the approvals waiting are on the page.
func approvalsShown(ctx context.Context, v ApprovalsView) string {
	from, to := v.Page.Offset+1, v.Page.Offset+len(v.Page.Items)
	if v.filtered() {
		return i18n.T(ctx, "Showing %d–%d of %d matching.", from, to, v.Page.Total)
	}
	return i18n.T(ctx, "Showing %d–%d of %d.", from, to, v.Page.Total)
}
