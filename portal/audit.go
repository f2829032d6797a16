package portal

import (
	"context"
	"fmt"
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
}

// Intact reports whether every entry checked out.
func (r AuditReport) Intact() bool { return r.Problem == "" }

// String is the report as an operator reads it.
func (r AuditReport) String() string {
	if r.Intact() {
		return fmt.Sprintf("audit log intact: %d entries", r.Entries)
	}
	return fmt.Sprintf("audit log broken: %s (%d entries checked)", r.Problem, r.Entries)
}

// AuditVerifier checks that no audit entry was changed, removed or forged.
type AuditVerifier interface {
	VerifyAudit(ctx context.Context) (AuditReport, error)
}
