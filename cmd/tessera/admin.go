package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/workflow"
)

const adminUsage = `Usage:
  tessera admin grant ACCOUNT [--role admin|helpdesk]
        make the person whose account name or email is ACCOUNT an administrator (or, with
        --role helpdesk, a helpdesk agent): a request by Tessera adds them to the role's group`

// adminCmd runs `tessera admin ...`: what an operator does before anyone
// can sign in as an administrator.
func adminCmd(ctx context.Context, cfg Config, args []string, out io.Writer) error {
	if len(args) < 2 || args[0] != "grant" {
		return errors.New(adminUsage)
	}
	account, role := "", portal.RoleAdmin
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--role" && i+1 < len(args):
			role = portal.Role(args[i+1])
			i++
		case account == "" && len(a) > 0 && a[0] != '-':
			account = a
		default:
			return errors.New(adminUsage)
		}
	}
	if account == "" || (role != portal.RoleAdmin && role != portal.RoleHelpdesk) {
		return errors.New(adminUsage)
	}
	pool, err := openMigrated(ctx, cfg.DatabaseURL, cfg.AuditKey, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	db := postgres.New(pool)
	if err := db.CheckAuditKey(ctx, cfg.AuditKey); err != nil {
		return err
	}
	if db.Jobs, err = insertOnlyRiver(cfg, pool); err != nil {
		return err
	}
	req, err := db.GrantRole(ctx, account, role)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s (request %s, %s)\n", role.Label(), req.Summary(), req.ID, req.Status.Label())
	return nil
}

// insertOnlyRiver is a River client that only inserts jobs, for commands
// whose follow-up work (exports, timers) the workers of `tessera serve` do.
func insertOnlyRiver(cfg Config, pool *pgxpool.Pool) (*river.Client[pgx.Tx], error) {
	client, err := river.NewClient(riverpgxv5.New(pool), workflow.InsertOnlyConfig(cfg.riverLogger()))
	if err != nil {
		return nil, fmt.Errorf("river: %w", err)
	}
	return client, nil
}
