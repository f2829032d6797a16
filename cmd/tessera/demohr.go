package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
	"github.com/tessera-idm/tessera/syncsvc/hr"
)

// demoHRName is the demo's HR source.
const demoHRName = "HR (demo file)"

// demoHR adds the demo's HR source, watching <data dir>/hr/inbox, and drops
// its first file there: everyone the demo seeded, as HR has them, and three
// joiners who report to Mateo. The worker's watcher applies it within
// seconds, projecting the joiners and exporting them to the demo AD.
func demoHR(ctx context.Context, cfg Config, pool *pgxpool.Pool, out io.Writer) error {
	inbox, err := filepath.Abs(filepath.Join(cfg.DataDir, "hr", "inbox"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(inbox, 0o750); err != nil {
		return err
	}
	svc := &hr.Service{Pool: pool, Engine: newEngine(pool, postgres.NewConnectedSystems(postgres.New(pool), cfg.Sealer), cfg.logger())}
	cols := hr.DefaultColumns()
	if _, err := svc.CreateSource(ctx, portal.TesseraViewer(), demoHRName, hr.Settings{Folder: inbox, Columns: cols}); err != nil {
		return err
	}
	rows, err := pool.Query(ctx, `SELECT p.employee_id, p.given_name, p.surname, p.display_name, p.email, p.title, p.department,
		p.office, coalesce(m.employee_id, '') FROM people p LEFT JOIN people m ON m.id = p.manager_id
		WHERE p.employee_id IS NOT NULL ORDER BY p.employee_id`)
	if err != nil {
		return err
	}
	header := []string{cols[hr.FieldEmployeeID], cols[hr.FieldGivenName], cols[hr.FieldSurname], cols[hr.FieldDisplayName],
		cols[hr.FieldEmail], cols[hr.FieldTitle], cols[hr.FieldDepartment], cols[hr.FieldOffice], cols[hr.FieldManager]}
	records := [][]string{header}
	var mateo, dept, office string
	rec := make([]string, len(header))
	ptrs := make([]any, len(rec))
	for i := range rec {
		ptrs[i] = &rec[i]
	}
	if _, err := pgx.ForEachRow(rows, ptrs, func() error {
		records = append(records, append([]string(nil), rec...))
		return nil
	}); err != nil {
		return err
	}
	if err := pool.QueryRow(ctx, "SELECT employee_id, department, office FROM people WHERE account_name = 'mateo'").Scan(&mateo, &dept, &office); err != nil {
		return fmt.Errorf("demo HR: Mateo: %w", err)
	}
	for _, j := range [][2]string{{"Nia", "Okafor"}, {"Tomás", "Ibáñez"}, {"Aiko", "Tanaka"}} {
		id := fmt.Sprintf("H%06d", len(records))
		records = append(records, []string{id, j[0], j[1], j[0] + " " + j[1], "", "New starter", dept, office, mateo})
	}
	f, err := os.CreateTemp(inbox, ".people-*.tmp")
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(records); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// Renamed whole into the inbox, so the watcher never reads half a file.
	dest := filepath.Join(inbox, "people.csv")
	if err := os.Rename(f.Name(), dest); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo HR: %q watches %s; its first file, %s, brings three joiners who report to Mateo\n", demoHRName, inbox, dest)
	return nil
}
