package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc"
	"github.com/tessera-idm/tessera/syncsvc/entra"
	"github.com/tessera-idm/tessera/syncsvc/entra/graphsim"
)

// The dev stack's simulated tenant: a Graph simulator, a test and demo tool
// that `tessera serve` never starts.
const (
	demoEntraName     = "Demo Entra (simulated)"
	demoEntraTenant   = "7e5ac0de-0000-4000-8000-00000000e17a"
	demoEntraClient   = "7e5ac0de-0000-4000-8000-0000000c11e7"
	demoEntraInitial  = "tesserademo.onmicrosoft.com"
	demoEntraVerified = "tessera.test"
)

// demoEntra starts the Graph simulator on loopback and configures it as
// the connected system "Demo Entra (simulated)", anchored in the demo AD
// when anchorID is set. The simulator keeps its tenant in memory, so every
// start exports the organisation to it again. It returns when ctx ends.
func demoEntra(ctx context.Context, cfg Config, pool *pgxpool.Pool, logger *slog.Logger, out io.Writer, anchorID string) {
	stop, _, err := configureDemoEntra(ctx, cfg, pool, logger, out, anchorID)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(out, "demo Entra: %v\n", portal.ErrorMessageOr(err))
	}
	<-ctx.Done()
	stop()
}

// configureDemoEntra starts the simulator, configures it as a connected
// system and exports the organisation to it; stop ends the simulator.
func configureDemoEntra(ctx context.Context, cfg Config, pool *pgxpool.Pool, logger *slog.Logger, out io.Writer,
	anchorID string) (stop func(), sys *portal.ConnectedSystem, err error) {
	stop = func() {}
	var key [24]byte
	if _, err := rand.Read(key[:]); err != nil {
		return stop, nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(key[:])
	sim := graphsim.New(graphsim.Config{TenantID: demoEntraTenant, ClientID: demoEntraClient, ClientSecret: secret,
		InitialDomain: demoEntraInitial, VerifiedDomains: []string{demoEntraVerified}})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return stop, nil, err
	}
	srv := &http.Server{Handler: sim.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("demo Entra simulator stopped", "error", err)
		}
	}()
	stop = func() { srv.Close() }
	base := "http://" + l.Addr().String()

	db := postgres.New(pool)
	systems := postgres.NewConnectedSystems(db, cfg.Sealer)
	engine := newEngine(pool, systems, logger)
	admin := portal.TesseraViewer()
	want := portal.ConnectedSystem{Name: demoEntraName, Type: portal.SystemEntra, BindPassword: secret, Enabled: true,
		DeltaInterval: portal.DefaultDeltaInterval,
		Entra: portal.EntraSettings{TenantID: demoEntraTenant, ClientID: demoEntraClient, VerifiedDomains: []string{demoEntraVerified},
			AuthorityURL: base, GraphURL: base + "/v1.0", AnchorSystemID: anchorID}}
	list, err := systems.ListConnectedSystems(ctx)
	if err != nil {
		return stop, nil, err
	}
	for i := range list {
		if list[i].Name == demoEntraName {
			// The simulator's address and secret are new at every start.
			have := list[i]
			have.BindPassword, have.Entra.AuthorityURL, have.Entra.GraphURL = secret, want.Entra.AuthorityURL, want.Entra.GraphURL
			if sys, err = systems.UpdateConnectedSystem(ctx, admin, have); err != nil {
				return stop, nil, err
			}
			// Its tenant starts empty: what the connector space says was
			// exported is there no more.
			if _, err := pool.Exec(ctx, "DELETE FROM cs_objects WHERE system_id = $1", sys.ID); err != nil {
				return stop, nil, err
			}
			if _, err := pool.Exec(ctx, "UPDATE connected_systems SET watermark = NULL WHERE id = $1", sys.ID); err != nil {
				return stop, nil, err
			}
		}
	}
	if sys == nil {
		if sys, err = systems.CreateConnectedSystem(ctx, admin, want); err != nil {
			return stop, nil, err
		}
		for _, r := range []syncsvc.SyncRule{entra.DefaultUserRule(sys.ID, demoEntraVerified), entra.DefaultGroupRule(sys.ID)} {
			if err := engine.SaveSyncRule(ctx, admin, r); err != nil {
				return stop, nil, err
			}
		}
	}
	fmt.Fprintf(out, "demo Entra: Graph simulator (a test and demo tool) at %s, connected system %q\n", base, demoEntraName)
	for _, p := range []syncsvc.RunProfile{syncsvc.FullImport, syncsvc.FullSync, syncsvc.Export, syncsvc.DeltaImport} {
		run, err := engine.Run(ctx, sys.ID, p, syncsvc.RunOptions{Trigger: "cli"})
		if err != nil {
			return stop, nil, err
		}
		if run.Status == "failed" {
			return stop, sys, errors.New(run.Message)
		}
		if p == syncsvc.Export {
			fmt.Fprintf(out, "demo Entra: exported %d objects (%d errors); approved changes now reach Entra at once\n",
				run.Counts.Adds+run.Counts.Updates, run.Counts.Errors)
		}
	}
	return stop, sys, nil
}
