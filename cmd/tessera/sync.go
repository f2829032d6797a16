package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// newEngine builds the sync engine over the portal's database.
func newEngine(pool *pgxpool.Pool, systems *postgres.ConnectedSystems, logger *slog.Logger) *syncsvc.Engine {
	return &syncsvc.Engine{Pool: pool, Systems: systems, Open: openers(pool, systems), Logger: logger, Dynamic: postgres.New(pool), Requests: postgres.New(pool),
		TargetSchemas: map[portal.SystemType]syncsvc.TargetSchema{portal.SystemEntra: entra.TargetSchema}}
}

// openers opens each connected system with its type's connector.
func openers(pool *pgxpool.Pool, systems *postgres.ConnectedSystems) syncsvc.Opener {
	return syncsvc.ByType(map[portal.SystemType]syncsvc.Opener{portal.SystemAD: ad.Opener(systems), portal.SystemEntra: entra.Opener(systems, entra.NewLedger(pool)),
		portal.SystemHR: hr.Opener(pool)})
}

const syncUsage = `Usage:
  tessera sync run SYSTEM PROFILE [--confirm-deletes]
        PROFILE is full_import, delta_import, full_sync, delta_sync or export
  tessera sync preview PERSON     what a full sync would do to one person (account name or ID)
  tessera sync status             connected systems, pending exports and the latest runs
SYSTEM is a connected system's name or ID.`

// syncCmd runs `tessera sync ...`.
func syncCmd(ctx context.Context, cfg Config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(syncUsage)
	}
	pool, err := openMigrated(ctx, cfg.DatabaseURL, cfg.AuditKey, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	db := postgres.New(pool)
	systems := postgres.NewConnectedSystems(db, cfg.Sealer)
	engine := newEngine(pool, systems, cfg.logger())
	switch args[0] {
	case "run":
		confirm := false
		var rest []string
		for _, a := range args[1:] {
			if a == "--confirm-deletes" {
				confirm = true
			} else {
				rest = append(rest, a)
			}
		}
		if len(rest) != 2 {
			return errors.New(syncUsage)
		}
		sys, err := findSystem(ctx, systems, rest[0])
		if err != nil {
			return err
		}
		run, err := engine.Run(ctx, sys.ID, syncsvc.RunProfile(rest[1]), syncsvc.RunOptions{Trigger: "cli", ConfirmDeletes: confirm})
		if err != nil {
			return err
		}
		printRun(out, run)
		objs, err := engine.RunObjects(ctx, run.ID, "", 20)
		if err == nil {
			for _, o := range objs {
				fmt.Fprintf(out, "  %-9s %s  %s\n", o.Kind, o.DN, o.Detail)
			}
		}
		if run.Status == "failed" || run.Status == "stopped" {
			return fmt.Errorf("%s %s", run.Profile.Label(), run.Status)
		}
		return nil
	case "preview":
		if len(args) != 2 {
			return errors.New(syncUsage)
		}
		var id string
		err := pool.QueryRow(ctx, `SELECT id::text FROM people WHERE lower(account_name) = lower($1) OR id::text = $1`, args[1]).Scan(&id)
		if err != nil {
			return fmt.Errorf("there is no person %q", args[1])
		}
		previews, err := engine.PreviewPerson(ctx, id)
		if err != nil {
			return err
		}
		if len(previews) == 0 {
			fmt.Fprintln(out, "No connected system has sync rules.")
		}
		for _, p := range previews {
			fmt.Fprintf(out, "%s: %s %s\n", p.SystemName, p.Action, p.DN)
			for _, c := range p.Inbound {
				fmt.Fprintf(out, "  inbound  %s\n", c)
			}
			for _, c := range p.Changes {
				fmt.Fprintf(out, "  export   %s\n", c)
			}
		}
		return nil
	case "status":
		list, err := engine.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SYSTEM\tSTATE\tOBJECTS\tJOINED\tPENDING\tERRORS\tLAST RUN")
		for _, s := range list {
			last := "never"
			if s.LastRun != nil {
				last = fmt.Sprintf("%s %s %s", s.LastRun.Profile.Label(), s.LastRun.Status, s.LastRun.StartedAt.Format(time.DateTime))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.System.Name, s.State(), s.Objects, s.Joined, s.Pending,
				s.ExportErrors, last)
		}
		return tw.Flush()
	}
	return errors.New(syncUsage)
}

func findSystem(ctx context.Context, systems *postgres.ConnectedSystems, nameOrID string) (*portal.ConnectedSystem, error) {
	list, err := systems.ListConnectedSystems(ctx)
	if err != nil {
		return nil, err
	}
	for i := range list {
		if strings.EqualFold(list[i].Name, nameOrID) || list[i].ID == nameOrID {
			return &list[i], nil
		}
	}
	return nil, portal.Errorf(portal.ENOTFOUND, "There is no connected system %q.", nameOrID)
}

func printRun(out io.Writer, r *syncsvc.Run) {
	c := r.Counts
	took := ""
	if r.FinishedAt != nil {
		took = r.FinishedAt.Sub(r.StartedAt).Round(time.Millisecond).String()
	}
	fmt.Fprintf(out, "%s of %s: %s in %s (%d objects)\n", r.Profile.Label(), r.SystemName, r.Status, took, r.Processed)
	fmt.Fprintf(out, "  adds %d, updates %d, renames %d, moves %d, deletes %d, joins %d, unchanged %d, errors %d\n",
		c.Adds, c.Updates, c.Renames, c.Moves, c.Deletes, c.Joins, c.Unchanged, c.Errors)
	if r.Message != "" {
		fmt.Fprintf(out, "  %s\n", r.Message)
	}
}
