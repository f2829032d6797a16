// Package view holds Tessera's templ components and the small types they
// render from.
package view

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// Page carries what every full page needs: its title, the signed-in viewer
// (nil on the sign-in page), the CSRF token for forms, and the active nav.
type Page struct {
	Title  string
	Viewer *portal.Viewer
	CSRF   string
	Nav    string // "home", "people", "groups", "org", "requests", "approvals"
	// PendingApprovals is the count shown beside "Approvals" in the header.
	PendingApprovals int
	// Trimmed says which fields of the form just sent were stored without
	// the spaces at either end.
	Trimmed string
}

// csrfHeaders is the hx-headers value that sends the CSRF token with every
// htmx request.
func (p Page) csrfHeaders() string {
	return fmt.Sprintf(`{"X-CSRF-Token": %q}`, p.CSRF)
}

func current(p Page, nav string) string {
	if p.Nav == nav {
		return "page"
	}
	return "false"
}

func personURL(id string) string { return "/people/" + url.PathEscape(id) }
func orgURL(id string) string    { return "/org/" + url.PathEscape(id) }
func groupURL(id string) string  { return "/groups/" + url.PathEscape(id) }

// pageURL links to another page of a listing at base with query q.
func pageURL(base, q string, offset int) string {
	v := url.Values{}
	if q != "" {
		v.Set("q", q)
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return base
	}
	return base + "?" + v.Encode()
}

func prevOffset(offset, limit int) int { return max(0, offset-limit) }

// lastPageOffset is where the last page of res's matches starts (of
// those that can be paged).
func lastPageOffset[T any](res portal.Page[T]) int {
	n := min(res.Total, portal.MaxMatches)
	if n == 0 || res.Limit <= 0 {
		return 0
	}
	return (n - 1) / res.Limit * res.Limit
}

func itoa(n int) string { return strconv.Itoa(n) }

// badgeCount is a count as a badge shows it: "99+" beyond
// portal.MaxBadgeCount (the session counts no further).
func badgeCount(n int) string {
	if n > portal.MaxBadgeCount {
		return itoa(portal.MaxBadgeCount) + "+"
	}
	return itoa(n)
}

// badgeLabel is the label of a badge counting n: label, or "More than 99
// waiting" beyond portal.MaxBadgeCount.
func badgeLabel(ctx context.Context, n int, label string) string {
	if n > portal.MaxBadgeCount {
		return i18n.T(ctx, "More than %d waiting", portal.MaxBadgeCount)
	}
	return label
}

func initials(name string) string {
	p := portal.Person{DisplayName: name}
	return p.Initials()
}

func groupTypeLabel(ctx context.Context, t portal.GroupType) string {
	if t == portal.GroupSecurity {
		return i18n.T(ctx, "Security group")
	}
	return i18n.T(ctx, "Distribution list")
}

// resultRange says "Showing 26–50" for a page of results.
func resultRange(ctx context.Context, offset, n int) string {
	if n == 0 {
		return ""
	}
	return i18n.T(ctx, "Showing %d–%d", offset+1, offset+n)
}

// matchSummary says how many people matched a search: "Showing 26–50 of 312."
func matchSummary[T any](ctx context.Context, res portal.Page[T]) string {
	from, to := res.Offset+1, res.Offset+len(res.Items)
	switch {
	case len(res.Items) == 0:
		return ""
	case res.Capped:
		return i18n.T(ctx, "Showing %d–%d of more than %d matches. Add a word to narrow the search.", from, to, portal.MaxMatches)
	case res.Total > 0:
		return i18n.T(ctx, "Showing %d–%d of %d.", from, to, res.Total)
	}
	return i18n.T(ctx, "Showing %d–%d.", from, to)
}

func oidcStartURL(next string) string {
	if next == "" {
		return "/signin/oidc"
	}
	return "/signin/oidc?next=" + url.QueryEscape(next)
}

func sep(a, b string) string {
	if a != "" && b != "" {
		return " · "
	}
	return ""
}

func requestURL(id string) string  { return "/requests/" + url.PathEscape(id) }
func approvalURL(id string) string { return "/approvals/" + url.PathEscape(id) }

func statusClass(s portal.RequestStatus) string {
	switch s {
	case portal.StatusCompleted:
		return "on"
	case portal.StatusDenied, portal.StatusExpired, portal.StatusFailed, portal.StatusCanceled:
		return "off"
	}
	return ""
}

var eventLabels = map[portal.EventKind]string{
	portal.KindSubmitted: i18n.Mark("Requested"), portal.KindApprovalRequested: i18n.Mark("Sent for approval"), portal.KindApproved: i18n.Mark("Approved"),
	portal.KindRejected: i18n.Mark("Rejected"), portal.KindReminded: i18n.Mark("Reminder sent"), portal.KindEscalated: i18n.Mark("Escalated"),
	portal.KindCommitted: i18n.Mark("Applied"), portal.KindCompleted: i18n.Mark("Done"), portal.KindDenied: i18n.Mark("Denied"), portal.KindExpired: i18n.Mark("Expired"),
	portal.KindCanceled: i18n.Mark("Canceled"), portal.KindExported: i18n.Mark("Exported"), portal.KindExportFailed: i18n.Mark("Export failed"),
	portal.KindExportSkipped: i18n.Mark("Not exported"), portal.KindFailed: i18n.Mark("Failed"), portal.KindSuperseded: i18n.Mark("Superseded"), portal.KindRetried: i18n.Mark("Retried"),
}

func eventLabel(ctx context.Context, kind portal.EventKind) string {
	if l, ok := eventLabels[kind]; ok {
		return i18n.T(ctx, l)
	}
	return string(kind)
}

// attrLabel names a changeable attribute as people read it: the core
// attributes in the reader's language, the ones administrators added as
// they named them.
func attrLabel(ctx context.Context, name string) string {
	return i18n.FromContext(ctx).Name(portal.CoreSchema().Label(name))
}

// MethodsNudge is what Home says about the person's sign-in and recovery
// methods.
type MethodsNudge struct {
	Registered, Required int
	// Reconfirm: the methods were last confirmed longer ago than the
	// policy's interval.
	Reconfirm bool
}

// SecuritySettings is the state of Settings → Sign-in and recovery.
type SecuritySettings struct {
	Methods  []portal.Method
	Required int
	Staff    bool
	// EmailEnabled: Tessera can send mail, so alternate emails can be
	// verified.
	EmailEnabled bool
	// Questions: the person may register security questions, from
	// QuestionList.
	Questions    bool
	QuestionList []string
	// Passkeys: passkeys work on this Tessera.
	Passkeys    bool
	ConfirmedAt time.Time
	Notice      string
	Error       string
	// AltEmail is the address typed; PendingEmail and Challenge the one a
	// code was sent to, waiting for the code.
	AltEmail, PendingEmail, Challenge string
	// Setup is a pending authenticator's ID, QR its code as a data: URL,
	// Secret the same secret for typing, TOTPName the name typed.
	Setup, QR, Secret, TOTPName string
}

// groupsOf4 spaces a secret for reading and typing: "ABCD EFGH …".
func groupsOf4(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		if i > 0 && i%4 == 0 {
			out = append(out, ' ')
		}
		out = append(out, s[i])
	}
	return string(out)
}

// isAdminPage reports whether p is an administration page, framed by the
// administration sidebar.
func isAdminPage(p Page) bool { return adminCurrent(p) == "page" }

type adminGroup struct {
	Label    string
	Sections []struct{ Group, Nav, Path, Label string }
}

// adminGroups folds adminSections into their groups, in order.
func adminGroups() []adminGroup {
	var gs []adminGroup
	for _, s := range adminSections {
		if len(gs) == 0 || gs[len(gs)-1].Label != s.Group {
			gs = append(gs, adminGroup{Label: s.Group})
		}
		gs[len(gs)-1].Sections = append(gs[len(gs)-1].Sections, s)
	}
	return gs
}

// adminSectionLabel names the folded administration menu after the page's
// section.
func adminSectionLabel(ctx context.Context, p Page) string {
	for _, s := range adminSections {
		if s.Nav == p.Nav {
			return i18n.T(ctx, "Administration: %s", i18n.T(ctx, s.Label))
		}
	}
	return i18n.T(ctx, "Administration")
}

// peersLabel names the row of the org chart that holds its person.
func peersLabel(ctx context.Context, t *portal.OrgTree) string {
	if len(t.Chain) == 0 {
		return i18n.T(ctx, "Top of the organisation")
	}
	return i18n.T(ctx, "Reports of %s", t.Chain[len(t.Chain)-1].DisplayName)
}

// questionNumbers numbers the security questions a person registers.
func questionNumbers() []string {
	out := make([]string, portal.QuestionsRequired)
	for i := range out {
		out[i] = strconv.Itoa(i + 1)
	}
	return out
}
