package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/postgres"
)

const auditUsage = `Usage:
  tessera audit verify [--checkpoint LINE]... [--checkpoints FILE]
      check that no audit entry was changed, deleted or forged; with
      checkpoints (the "audit checkpoint" lines of Tessera's log, or their
      values: entry=… hash=… at=… key=… signature=…), also that the log
      still holds the newest entry each one recorded
`

// checkpointFlags collects --checkpoint values.
type checkpointFlags []string

func (c *checkpointFlags) String() string     { return strings.Join(*c, "\n") }
func (c *checkpointFlags) Set(v string) error { *c = append(*c, v); return nil }

// auditCmd runs `tessera audit SUBCOMMAND`.
func auditCmd(ctx context.Context, cfg Config, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "verify" {
		return fmt.Errorf("audit needs one subcommand\n\n%s", auditUsage)
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(out)
	var lines checkpointFlags
	fs.Var(&lines, "checkpoint", "a checkpoint line from Tessera's log (repeatable)")
	file := fs.String("checkpoints", "", "a log file: every checkpoint line in it is checked")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n\n%s", err, auditUsage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit verify takes no arguments, only flags\n\n%s", auditUsage)
	}
	if *file != "" {
		found, err := checkpointLines(*file)
		if err != nil {
			return err
		}
		lines = append(lines, found...)
	}
	checkpoints, err := parseCheckpoints(cfg.AuditKey, lines, out)
	if err != nil {
		return err
	}
	pool, err := openMigrated(ctx, cfg.DatabaseURL, cfg.AuditKey, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	report, err := postgres.New(pool).VerifyAudit(ctx, checkpoints...)
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

// parseCheckpoints reads the checkpoints and checks their signatures with
// key; without a key, they are taken as they are, and out says so.
func parseCheckpoints(key *portal.AuditKey, lines []string, out io.Writer) ([]portal.AuditCheckpoint, error) {
	var cps []portal.AuditCheckpoint
	for _, line := range lines {
		c, err := portal.ParseAuditCheckpoint(line)
		if err != nil {
			return nil, err
		}
		if key != nil {
			if err := key.CheckSignature(c); err != nil {
				return nil, err
			}
		}
		cps = append(cps, c)
	}
	if key == nil && len(cps) > 0 {
		fmt.Fprintf(out, "checkpoint signatures not checked: %s is not set\n", portal.SecretKeyEnv)
	}
	return cps, nil
}

// checkpointLines returns the checkpoint lines of a log file.
func checkpointLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if strings.Contains(sc.Text(), portal.AuditCheckpointMessage) {
			lines = append(lines, sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %s: %w", path, err)
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s has no %q lines", path, portal.AuditCheckpointMessage)
	}
	return lines, nil
}
