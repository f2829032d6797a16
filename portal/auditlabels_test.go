package portal_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tessera-idm/tessera/portal"
)

// auditWrites are the calls that write an audit entry or name its action;
// auditActionLiteral an action code among their arguments (not a map key).
var (
	auditWrites = regexp.MustCompile(`Audit\(ctx, tx,|audit_append\(|recording\{|recordStatus\(|record\(ctx|recordStmt\(|` +
		`auditSignIn\(|auditReset\(|recordOutcome\(|\.decide\(ctx|\.Action = "|action :?= "|auditAction, a\.Done = "`)
	auditActionLiteral = regexp.MustCompile(`["']([a-z]+(?:_[a-z]+)+)["']\s*[^:\s]`)
)

// TestAuditActionsNamed: every action Tessera writes into the audit log
// has a name the audit page shows in the reader's language (an action
// without one is shown as its code, in English words). It reads the calls
// that write entries in the code; the actions made of a prefix and a
// status are listed here.
func TestAuditActionsNamed(t *testing.T) {
	t.Parallel()
	notActions := map[string]bool{"connected_system": true, "access_review": true, "detail_text": true}
	found := map[string]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "e2e") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, "_templ.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(src), "\n") {
			if !auditWrites.MatchString(line) {
				continue
			}
			for _, m := range auditActionLiteral.FindAllStringSubmatch(line+" ", -1) {
				if !notActions[m[1]] {
					found[m[1]] = path
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range portal.RequestStatuses() {
		if s != portal.StatusAuthorizing { // a request's first status: never recorded as an outcome
			found["request_"+string(s)] = "requestlife.go ('request_' || status)"
		}
	}
	found["approval_approved"], found["approval_rejected"] = "approvals.go", "approvals.go"
	found["helpdesk_enable"], found["helpdesk_disable"] = "web/password_helpdesk.go", "web/password_helpdesk.go"
	for _, must := range []string{"sign_in", "policy_update", "request_submitted", "sync_inbound", "hr_file_confirmed", "password_changed"} {
		if _, ok := found[must]; !ok {
			t.Errorf("the walk of the code did not find %q: its patterns are out of date", must)
		}
	}
	for action, where := range found {
		if _, ok := portal.AuditActionLabel(action); !ok {
			t.Errorf("audit action %q (%s) has no name in portal/auditlabels.go", action, where)
		}
	}
}
