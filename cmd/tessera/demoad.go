package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/ad/sambadc"
)

// demoADName is the connected system the dev stack configures.
const demoADName = "Demo AD (Samba)"

// demoOU is where the demo organisation goes in the demo AD.
const demoOU = "OU=Tessera demo," + sambadc.SambaBaseDN

// demoAD starts the dev stack's Samba AD DC (installing Samba first when
// missing and root), configures it as a connected system with the default
// sync rules, and on first start exports the demo organisation to it. It
// runs beside the portal and reports to out; a machine without Samba gets
// the portal alone. It returns when ctx ends, stopping the DC.
func demoAD(ctx context.Context, cfg Config, pool *pgxpool.Pool, logger *slog.Logger, out io.Writer) {
	logf := func(format string, args ...any) { logger.Info(fmt.Sprintf(format, args...), "component", "demo-ad") }
	dc, err := sambadc.StartIn(filepath.Join(cfg.DataDir, "samba"), logf)
	if err != nil {
		fmt.Fprint(out, demoADNotStarted(err))
		// The simulated Entra tenant runs without AD: cloud-only users.
		demoEntra(ctx, cfg, pool, logger, out, "")
		return
	}
	defer dc.Stop()
	sys, err := configureDemoAD(ctx, cfg, pool, logger, dc, out)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(out, "demo AD: %v\n", portal.ErrorMessageOr(err))
	}
	anchor := ""
	if err == nil {
		anchor = sys.ID // Entra users are anchored by their AD objectGUID
	}
	demoEntra(ctx, cfg, pool, logger, out, anchor)
}

// demoADNotStarted tells why the demo AD did not start, in the words of the
// tool that failed (sambadc quotes the end of its output), and how to go on.
func demoADNotStarted(err error) string {
	return "demo AD: not started; the portal runs without a connected system. What happened:\n" +
		"  " + strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "\n  ") + "\n" +
		"demo AD: after fixing that, run `make run` again (`TESSERA_DEMO_AD=off make run` goes without it)\n"
}

func configureDemoAD(ctx context.Context, cfg Config, pool *pgxpool.Pool, logger *slog.Logger, dc *sambadc.DC, out io.Writer) (*portal.ConnectedSystem, error) {
	conn, err := ldap.DialURL(dc.LDAPSURL, ldap.DialWithTLSConfig(dc.TLSConfig()))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if err := conn.Bind(dc.AdminUPN, dc.AdminPassword); err != nil {
		return nil, err
	}
	add := ldap.NewAddRequest(demoOU, nil)
	add.Attribute("objectClass", []string{"organizationalUnit"})
	if err := conn.Add(add); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		return nil, fmt.Errorf("create %s: %w", demoOU, err)
	}
	ca, err := os.ReadFile(dc.CAFile)
	if err != nil {
		return nil, err
	}
	db := postgres.New(pool)
	systems := postgres.NewConnectedSystems(db, cfg.Sealer)
	engine := newEngine(pool, systems, logger)
	// Tessera sets the demo up, not an administrator: the audit log says so.
	admin := portal.TesseraViewer()
	want := portal.ConnectedSystem{
		Name: demoADName, Type: portal.SystemAD, Hosts: []string{dc.IP}, TLSMode: portal.TLSLDAPS, CACertPEM: string(ca),
		BindUser: dc.AdminUPN, BindPassword: dc.AdminPassword, BaseDN: dc.BaseDN, OUs: []string{demoOU}, Enabled: true,
		DeltaInterval: portal.DefaultDeltaInterval,
	}
	list, err := systems.ListConnectedSystems(ctx)
	if err != nil {
		return nil, err
	}
	var sys *portal.ConnectedSystem
	for i := range list {
		if list[i].Name == demoADName {
			// The DC's certificate (and maybe its address) is new at
			// every start; keep what an administrator changed otherwise.
			have := list[i]
			have.Hosts, have.CACertPEM, have.BindPassword = want.Hosts, want.CACertPEM, want.BindPassword
			if sys, err = systems.UpdateConnectedSystem(ctx, admin, have); err != nil {
				return nil, err
			}
		}
	}
	first := sys == nil
	if first {
		if sys, err = systems.CreateConnectedSystem(ctx, admin, want); err != nil {
			return nil, err
		}
		base := demoOU
		u := syncsvc.DefaultUserRule(sys.ID, dc.BaseDN)
		u.DNTemplate = "CN={displayName},OU={department},OU=People," + base
		// Accounts created enabled with a random password no one knows,
		// as the sync rule form offers: a demo person sets their own
		// through password reset and can then sign in to the demo AD.
		u.InitialPassword, u.EnableOnCreate = "random", true
		g := syncsvc.DefaultGroupRule(sys.ID, dc.BaseDN)
		g.DNTemplate = "CN={name},OU=Groups," + base
		for _, r := range []syncsvc.SyncRule{u, g} {
			if err := engine.SaveSyncRule(ctx, admin, r); err != nil {
				return nil, err
			}
		}
	}
	fmt.Fprintf(out, "demo AD: Samba AD DC at %s (%s / %s), connected system %q\n", dc.LDAPSURL, dc.AdminUPN, dc.AdminPassword, demoADName)
	if !first {
		return sys, nil // the scheduled delta cycles take it from here
	}
	fmt.Fprintln(out, "demo AD: exporting the demo organisation (full import, full sync, export) ...")
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		run, err := runWhenFree(ctx, engine, sys.ID, p)
		if err != nil {
			return nil, err
		}
		if run.Status == "failed" {
			return nil, errors.New(run.Message)
		}
		if p == syncsvc.Export {
			fmt.Fprintf(out, "demo AD: exported %d objects (%d errors) in %s; approved changes now reach AD at once\n",
				run.Counts.Adds+run.Counts.Updates, run.Counts.Errors, run.FinishedAt.Sub(run.StartedAt).Round(1e6))
		}
	}
	return sys, nil
}

// runWhenFree runs profile on the system, waiting for as long as it takes
// when another run holds it: at start-up the HR file's joiners and the
// first export jobs reach the new system while its first runs begin.
func runWhenFree(ctx context.Context, engine *syncsvc.Engine, systemID string, p syncsvc.RunProfile) (*syncsvc.Run, error) {
	for {
		run, err := engine.Run(ctx, systemID, p, syncsvc.RunOptions{Trigger: "cli"})
		if !errors.Is(err, syncsvc.ErrBusy) {
			return run, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}
