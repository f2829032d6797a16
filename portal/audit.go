package portal

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// AuditReport is the outcome of checking the audit log's hash chain: how many
// entries were read and, when the chain is broken, the first entry where it
// breaks and why.
type AuditReport struct {
	// Entries is the number of entries read: all of them when the log is
	// intact, otherwise those up to and including the first broken one.
	Entries int64
	// LastID and LastHash name the newest entry read; an operator who keeps
	// them outside the database can later prove the log was not rewritten.
	LastID   int64
	LastHash []byte
	// BrokenID is the entry at which the chain first breaks (0 when intact,
	// or when what is wrong is the end of the log as a whole).
	BrokenID int64
	// Problem says in words what is wrong; empty when the log is intact.
	Problem string
	// Unkeyed counts the entries at the start of the log that are hashed
	// with plain SHA-256 (written before the chain was keyed with
	// TESSERA_SECRET_KEY, or without it): anyone with the database could
	// rewrite those and re-hash them, unless a checkpoint covers them.
	Unkeyed int64
	// LastUnkeyedID is the newest of those entries (0 when none).
	LastUnkeyedID int64
	// Checkpoints is how many checkpoints were checked against the log.
	Checkpoints int
	// Waiting counts the entries after the tip not yet linked into the
	// chain (their writers' transactions were still running when it was
	// linked); each is checked by its own MAC instead.
	Waiting int64
}

// Intact reports whether every entry checked out.
func (r AuditReport) Intact() bool { return r.Problem == "" }

// String is the report as an operator reads it.
func (r AuditReport) String() string {
	if !r.Intact() {
		return fmt.Sprintf("audit log broken: %s (%d entries checked)", r.Problem, r.Entries)
	}
	s := fmt.Sprintf("audit log intact: %d entries", r.Entries)
	switch {
	case r.Unkeyed == r.Entries && r.Entries > 0:
		s += " (none keyed: written without " + SecretKeyEnv + ", with plain SHA-256)"
	case r.Unkeyed > 0:
		s += fmt.Sprintf(" (the first %d, up to entry %d, were written before the chain was keyed, with plain SHA-256)",
			r.Unkeyed, r.LastUnkeyedID)
	}
	switch {
	case r.Waiting == 1:
		s += "; 1 newer entry waits to be chained, intact"
	case r.Waiting > 1:
		s += fmt.Sprintf("; %d newer entries wait to be chained, each intact", r.Waiting)
	}
	switch {
	case r.Checkpoints == 1:
		s += "; the checkpoint matches"
	case r.Checkpoints > 1:
		s += fmt.Sprintf("; all %d checkpoints match", r.Checkpoints)
	}
	return s
}

// AuditVerifier checks that no audit entry was changed, removed or forged,
// and that the log still holds the tips the given checkpoints recorded
// (their signatures are the caller's to check).
type AuditVerifier interface {
	VerifyAudit(ctx context.Context, checkpoints ...AuditCheckpoint) (AuditReport, error)
}

// AuditEntry is one entry of the audit log as an administrator reads it.
type AuditEntry struct {
	ID           int64
	At           time.Time
	ActorID      string // empty: Tessera itself
	ActorName    string
	ActorAccount string
	Action       string
	TargetType   string
	TargetID     string
	// TargetName is the target's name (a request's: what it asks for);
	// empty when the target has none or is gone.
	TargetName string
	// Details is JSON; IDs of things that still exist are replaced by
	// their names.
	Details string
}

// AttributeChange is one attribute's value before and after a change, as
// audit entries of profile edits and inbound syncs record it under
// "changes". Person attributes only: a secret is never one of them.
type AttributeChange struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// AuditFilter selects audit entries: by action, and by the account name (or
// email) of the person who acted. Empty fields select everything.
type AuditFilter struct {
	Action string
	Actor  string
}

// Normalize trims the filter and checks its lengths.
func (f *AuditFilter) Normalize() error {
	f.Action, f.Actor = strings.TrimSpace(f.Action), strings.TrimSpace(f.Actor)
	if !utf8.ValidString(f.Action) || !utf8.ValidString(f.Actor) || len(f.Action) > 100 || len(f.Actor) > 256 {
		return Errorf(EINVALID, "The filter is too long or not valid text.")
	}
	return nil
}

// AuditReader pages through the audit log, newest first.
type AuditReader interface {
	ListAudit(ctx context.Context, f AuditFilter, offset int) (Page[AuditEntry], error)
}

// AuditPage returns the paging for an audit list starting at offset.
func AuditPage(offset int) (int, int) { return normalizePage(offset, 50) }
