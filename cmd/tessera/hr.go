package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc/hr"
	"github.com/tessera-idm/tessera/workflow"
)

const hrUsage = `Usage:
  tessera hr import FILE [--system NAME] [--preview]
        read an HR file (CSV) into the HR source: joiners, movers, leavers and refused rows,
        then apply it and export the people it changes (--preview: show only)
  tessera hr confirm UPLOAD       apply a file that stopped at the leaver threshold (or was previewed)
NAME is the HR source's name or ID; without it, the only HR source.`

// hrCmd runs `tessera hr ...`. It applies files in this process, as
// `tessera sync run` runs its run, and prints what they did.
func hrCmd(ctx context.Context, cfg Config, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New(hrUsage)
	}
	pool, err := openMigrated(ctx, cfg.DatabaseURL, cfg.AuditKey, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	systems := postgres.NewConnectedSystems(postgres.New(pool), cfg.Sealer)
	var queued []int64
	// The dates' timers (a pre-hire's start, an end date) are River jobs,
	// inserted here as by any other import, for the workers of `tessera
	// serve` to run when they are due.
	jobs, err := insertOnlyRiver(cfg, pool)
	if err != nil {
		return err
	}
	svc := &hr.Service{Pool: pool, Engine: newEngine(pool, systems, cfg.logger()), Logger: cfg.logger(),
		Queue:    func(ctx context.Context, tx pgx.Tx, id int64) error { queued = append(queued, id); return nil },
		Schedule: workflow.HRDateQueue(jobs), Notify: workflow.HRNoticeQueue(jobs)}
	// The command line acts as Tessera itself, with an administrator's
	// rights over HR files.
	system := portal.Viewer{DisplayName: "tessera hr", Roles: []portal.Role{portal.RoleAdmin}}
	switch args[0] {
	case "import":
		var file, name string
		preview := false
		for i := 1; i < len(args); i++ {
			switch a := args[i]; {
			case a == "--preview":
				preview = true
			case a == "--system" && i+1 < len(args):
				name = args[i+1]
				i++
			case file == "" && len(a) > 0 && a[0] != '-':
				file = a
			default:
				return errors.New(hrUsage)
			}
		}
		if file == "" {
			return errors.New(hrUsage)
		}
		src, err := hrSource(ctx, svc, name)
		if err != nil {
			return err
		}
		content, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		u, err := svc.Receive(ctx, system, hr.Incoming{SystemID: src.ID, Source: "cli", Filename: filepath.Base(file), Content: content,
			Apply: !preview})
		if err != nil {
			return err
		}
		printUpload(out, u)
		return applyQueued(ctx, svc, queued, out)
	case "confirm":
		if len(args) != 2 {
			return errors.New(hrUsage)
		}
		id, err := strconv.ParseInt(args[1], 10, 64)
		if err != nil {
			return errors.New(hrUsage)
		}
		if err := svc.Confirm(ctx, system, id); err != nil {
			return err
		}
		return applyQueued(ctx, svc, queued, out)
	}
	return errors.New(hrUsage)
}

func hrSource(ctx context.Context, svc *hr.Service, name string) (*hr.Source, error) {
	if name != "" {
		return svc.FindSource(ctx, name)
	}
	list, err := svc.Sources(ctx)
	if err != nil {
		return nil, err
	}
	switch len(list) {
	case 0:
		return nil, errors.New("there is no HR source yet: add one under Administration → HR sources (or start `make run`, whose demo has one)")
	case 1:
	default:
		return nil, fmt.Errorf("there are %d HR sources: name one with --system", len(list))
	}
	return &list[0], nil
}

func applyQueued(ctx context.Context, svc *hr.Service, ids []int64, out io.Writer) error {
	for _, id := range ids {
		if err := svc.ApplyHRUpload(ctx, id); err != nil {
			return err
		}
		u, err := svc.Upload(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "File %d: %s. %s\n", u.ID, u.Status, u.Message)
		if u.Status != hr.StatusApplied {
			return fmt.Errorf("the file was not applied")
		}
	}
	return nil
}

func printUpload(out io.Writer, u *hr.Upload) {
	fmt.Fprintf(out, "File %d (%s): %d rows: %d joiners, %d movers, %d leavers, %d refused. Status: %s.\n",
		u.ID, u.Filename, u.Rows, u.Joiners, u.Movers, u.Leavers, len(u.Refusals), u.Status)
	for _, r := range u.Refusals {
		fmt.Fprintf(out, "  line %d: %s\n", r.Line, r.Reason)
	}
	if u.Message != "" {
		fmt.Fprintln(out, u.Message)
	}
	if u.Status == hr.StatusWaiting {
		fmt.Fprintf(out, "Apply it anyway with: tessera hr confirm %d\n", u.ID)
	}
}
