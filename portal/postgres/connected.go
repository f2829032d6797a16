package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// ConnectedSystems stores connected systems, sealing their bind passwords
// with Sealer before they reach SQL.
type ConnectedSystems struct {
	db *DB
	// sealer is nil without TESSERA_SECRET_KEY: systems can then be listed
	// and deleted, but not saved, and no password can be read.
	sealer *portal.Sealer
}

var (
	_ portal.ConnectedSystemService = (*ConnectedSystems)(nil)
	_ portal.ConnectedSystemSecrets = (*ConnectedSystems)(nil)
)

// NewConnectedSystems returns the connected systems of db; sealer may be nil.
func NewConnectedSystems(db *DB, sealer *portal.Sealer) *ConnectedSystems {
	return &ConnectedSystems{db: db, sealer: sealer}
}

var (
	errNoConnectedSystem = portal.Errorf(portal.ENOTFOUND, "There is no such connected system.")
	errNoSecretKey       = portal.Errorf(portal.EINVALID,
		"Connected systems cannot be saved: Tessera has no key to encrypt their passwords with. Set TESSERA_SECRET_KEY (make one with `openssl rand -base64 32`) and restart Tessera.")
)

// passwordLabel binds a sealed password to its row, so that sealed bytes
// copied into another row do not open.
func passwordLabel(id string) string { return "connected_systems.bind_password:" + id }

func requireSystemsAdmin(v portal.Viewer) error {
	if !v.Has(portal.RoleAdmin) {
		return portal.Errorf(portal.EFORBIDDEN, "Only administrators change connected systems.")
	}
	return nil
}

// CanSealSecrets reports whether a secret key is configured.
func (s *ConnectedSystems) CanSealSecrets() bool { return s.sealer != nil }

const connectedSelect = `SELECT id, name, type, hosts, port, tls_mode, ca_cert_pem, bind_user, base_dn, ous,
	enabled, staging, deletion_threshold, delta_interval, entra, created_at, updated_at FROM connected_systems`

func scanConnected(row pgx.Row) (portal.ConnectedSystem, error) {
	var c portal.ConnectedSystem
	var interval int
	err := row.Scan(&c.ID, &c.Name, &c.Type, &c.Hosts, &c.Port, &c.TLSMode, &c.CACertPEM, &c.BindUser, &c.BaseDN,
		&c.OUs, &c.Enabled, &c.Staging, &c.DeletionThreshold, &interval, &c.Entra, &c.CreatedAt, &c.UpdatedAt)
	c.DeltaInterval = time.Duration(interval) * time.Second
	c.HasPassword = true // the column is NOT NULL
	return c, err
}

// ListConnectedSystems returns every connected system by name, without
// passwords.
func (s *ConnectedSystems) ListConnectedSystems(ctx context.Context) ([]portal.ConnectedSystem, error) {
	rows, err := s.db.Pool.Query(ctx, connectedSelect+" ORDER BY lower(name), id")
	if err != nil {
		return nil, fmt.Errorf("postgres: list connected systems: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (portal.ConnectedSystem, error) { return scanConnected(row) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list connected systems: %w", err)
	}
	return cs, nil
}

// FindConnectedSystem returns one connected system, without its password.
func (s *ConnectedSystems) FindConnectedSystem(ctx context.Context, id string) (*portal.ConnectedSystem, error) {
	c, err := findConnected(ctx, s.db.Pool, id, false)
	return c, storeError("find connected system", err)
}

func findConnected(ctx context.Context, q rowQuerier, id string, lock bool) (*portal.ConnectedSystem, error) {
	if !validID(id) {
		return nil, errNoConnectedSystem
	}
	sql := connectedSelect + " WHERE id = $1"
	if lock {
		sql += " FOR UPDATE"
	}
	c, err := scanConnected(q.QueryRow(ctx, sql, id))
	if isNoRows(err) {
		return nil, errNoConnectedSystem
	} else if err != nil {
		return nil, err
	}
	return &c, nil
}

// CreateConnectedSystem checks c, seals its password and stores it.
func (s *ConnectedSystems) CreateConnectedSystem(ctx context.Context, v portal.Viewer, c portal.ConnectedSystem) (*portal.ConnectedSystem, error) {
	if err := requireSystemsAdmin(v); err != nil {
		return nil, err
	}
	c.ID = ""
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if s.sealer == nil {
		return nil, errNoSecretKey
	}
	id := newUUID()
	sealed, err := s.sealer.Seal([]byte(c.BindPassword), passwordLabel(id))
	if err != nil {
		return nil, err
	}
	var saved *portal.ConnectedSystem
	err = pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO connected_systems (id, name, type, hosts, port, tls_mode, ca_cert_pem, bind_user,
				bind_password_sealed, base_dn, ous, enabled, staging, deletion_threshold, delta_interval, entra)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			id, c.Name, string(c.Type), c.Hosts, c.Port, string(c.TLSMode), c.CACertPEM, c.BindUser, sealed, c.BaseDN,
			textArray(c.OUs), c.Enabled, c.Staging, c.DeletionThreshold, int(c.DeltaInterval/time.Second), c.Entra)
		if isUniqueViolation(err) {
			return connectedNameTaken(c.Name)
		} else if err != nil {
			return err
		}
		if saved, err = findConnected(ctx, tx, id, false); err != nil {
			return err
		}
		details := connectedDetails(saved)
		details["password_set"] = true
		return Audit(ctx, tx, v.PersonID, "connected_system_create", "connected_system", id, details)
	})
	if err != nil {
		return nil, storeError("create connected system", err)
	}
	return saved, nil
}

// UpdateConnectedSystem replaces c.ID's settings. An empty BindPassword
// keeps the stored one, unless the hosts or port changed: a saved password
// only goes where it was typed for.
func (s *ConnectedSystems) UpdateConnectedSystem(ctx context.Context, v portal.Viewer, c portal.ConnectedSystem) (*portal.ConnectedSystem, error) {
	if err := requireSystemsAdmin(v); err != nil {
		return nil, err
	}
	if !validID(c.ID) {
		return nil, errNoConnectedSystem
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if s.sealer == nil {
		return nil, errNoSecretKey
	}
	var sealed []byte
	if c.BindPassword != "" {
		var err error
		if sealed, err = s.sealer.Seal([]byte(c.BindPassword), passwordLabel(c.ID)); err != nil {
			return nil, err
		}
	}
	var saved *portal.ConnectedSystem
	err := pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		before, err := findConnected(ctx, tx, c.ID, true)
		if err != nil {
			return err
		}
		if sealed == nil && !before.SameDestination(c) {
			return portal.ErrPasswordForNewDestination
		}
		// COALESCE keeps the sealed password when no new one is given.
		_, err = tx.Exec(ctx, `UPDATE connected_systems SET name = $2, type = $3, hosts = $4, port = $5, tls_mode = $6,
				ca_cert_pem = $7, bind_user = $8, bind_password_sealed = coalesce($9, bind_password_sealed), base_dn = $10,
				ous = $11, enabled = $12, staging = $13, deletion_threshold = $14, delta_interval = $15, entra = $16, updated_at = now()
			WHERE id = $1`,
			c.ID, c.Name, string(c.Type), c.Hosts, c.Port, string(c.TLSMode), c.CACertPEM, c.BindUser, sealed, c.BaseDN,
			textArray(c.OUs), c.Enabled, c.Staging, c.DeletionThreshold, int(c.DeltaInterval/time.Second), c.Entra)
		if isUniqueViolation(err) {
			return connectedNameTaken(c.Name)
		} else if err != nil {
			return err
		}
		if saved, err = findConnected(ctx, tx, c.ID, false); err != nil {
			return err
		}
		details := changeDetails(connectedDetails(before), connectedDetails(saved))
		details["password_set"] = sealed != nil
		return Audit(ctx, tx, v.PersonID, "connected_system_update", "connected_system", c.ID, details)
	})
	if err != nil {
		return nil, storeError("update connected system", err)
	}
	return saved, nil
}

// DeleteConnectedSystem removes a connected system and its sealed password.
func (s *ConnectedSystems) DeleteConnectedSystem(ctx context.Context, v portal.Viewer, id string) error {
	if err := requireSystemsAdmin(v); err != nil {
		return err
	}
	if !validID(id) {
		return errNoConnectedSystem
	}
	err := pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		before, err := findConnected(ctx, tx, id, true)
		if err != nil {
			return err
		}
		// The requests waiting for it would wait for ever.
		if err := releaseSystem(ctx, tx, id, before.Name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM connected_systems WHERE id = $1", id); err != nil {
			return err
		}
		return Audit(ctx, tx, v.PersonID, "connected_system_delete", "connected_system", id, connectedDetails(before))
	})
	return storeError("delete connected system", err)
}

// BindPassword unseals the stored bind password of connected system id,
// for the sync engine and the connection test; pages never receive it.
func (s *ConnectedSystems) BindPassword(ctx context.Context, id string) (string, error) {
	if !validID(id) {
		return "", errNoConnectedSystem
	}
	if s.sealer == nil {
		return "", errors.New("postgres: bind password: TESSERA_SECRET_KEY is not set, so stored passwords cannot be read")
	}
	var sealed []byte
	err := s.db.Pool.QueryRow(ctx, "SELECT bind_password_sealed FROM connected_systems WHERE id = $1", id).Scan(&sealed)
	if isNoRows(err) {
		return "", errNoConnectedSystem
	} else if err != nil {
		return "", fmt.Errorf("postgres: bind password: %w", err)
	}
	plain, err := s.sealer.Open(sealed, passwordLabel(id))
	if err != nil {
		return "", fmt.Errorf("postgres: bind password of connected system %s: %w", id, err)
	}
	return string(plain), nil
}

func connectedNameTaken(name string) error {
	return portal.Errorf(portal.ECONFLICT, "A connected system named “%s” already exists; choose another name.", name)
}

// connectedDetails is what the audit log records of a system: its settings
// and never its password. The CA is recorded by its SHA-256, which says
// whether it changed without filling the log with PEM.
func connectedDetails(c *portal.ConnectedSystem) map[string]any {
	ca := ""
	if c.CACertPEM != "" {
		sum := sha256.Sum256([]byte(c.CACertPEM))
		ca = hex.EncodeToString(sum[:])
	}
	return map[string]any{
		"name": c.Name, "type": string(c.Type), "hosts": textArray(c.Hosts), "port": c.Port, "tls_mode": string(c.TLSMode),
		"ca_sha256": ca, "bind_user": c.BindUser, "base_dn": c.BaseDN, "ous": textArray(c.OUs), "enabled": c.Enabled,
		"staging": c.Staging, "deletion_threshold": c.DeletionThreshold, "delta_interval_s": int(c.DeltaInterval / time.Second),
		"entra": c.Entra,
	}
}
