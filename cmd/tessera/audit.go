package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tessera-idm/tessera/portal/postgres"
)

const auditUsage = `Usage:
  tessera audit verify    check that no audit entry was changed, deleted or forged
`

// auditCmd runs `tessera audit SUBCOMMAND`.
func auditCmd(ctx context.Context, cfg Config, args []string, out io.Writer) error {
	if len(args) != 1 || args[0] != "verify" {
		return fmt.Errorf("audit needs one subcommand\n\n%s", auditUsage)
	}
	pool, err := openMigrated(ctx, cfg.DatabaseURL, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	report, err := postgres.New(pool).VerifyAudit(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, report)
	if !report.Intact() {
		// The report above names the problem; a non-zero exit lets a
		// monitoring job alert on it.
		return errors.New("the audit log failed verification")
	}
	if report.Entries > 0 {
		fmt.Fprintf(out, "newest entry %d, hash %x\n", report.LastID, report.LastHash)
	}
	return nil
}
