package hr

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// Token is a bearer token for the SCIM bulk endpoint of one HR source, as
// the admin pages list it: the token itself is shown once, when it is
// made, and only its SHA-256 is kept.
type Token struct {
	ID         string
	SystemID   string
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// tokenPrefix marks Tessera's SCIM tokens, so that a leaked one is
// recognised (by secret scanners, and by people).
const tokenPrefix = "tessera_scim_"

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateToken makes a bearer token for systemID's bulk endpoint and
// returns it; it is never shown again.
func (s *Service) CreateToken(ctx context.Context, v portal.Viewer, systemID, name string) (string, error) {
	if !v.Has(portal.RoleAdmin) {
		return "", portal.Errorf(portal.EFORBIDDEN, "Only administrators create API tokens.")
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", portal.Errorf(portal.EINVALID, "Name the token after what uses it, such as “Workday export”.")
	case utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, unicode.IsControl):
		return "", portal.Errorf(portal.EINVALID, "The token's name is at most 100 characters of text.")
	}
	if _, _, err := s.Settings(ctx, systemID); err != nil {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	var actor any
	if v.PersonID != "" {
		actor = v.PersonID
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var id string
		if err := tx.QueryRow(ctx, `INSERT INTO scim_tokens (system_id, name, token_hash, created_by) VALUES ($1, $2, $3, $4) RETURNING id`,
			systemID, name, tokenHash(token), actor).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT audit_append($1, 'scim_token_create', 'connected_system', $2, $3)", actor, systemID,
			map[string]any{"token": id, "name": name})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hr: create token: %w", err)
	}
	return token, nil
}

// RevokeToken stops a token from working, at once.
func (s *Service) RevokeToken(ctx context.Context, v portal.Viewer, systemID, id string) error {
	if !v.Has(portal.RoleAdmin) {
		return portal.Errorf(portal.EFORBIDDEN, "Only administrators revoke API tokens.")
	}
	if !validUUID(id) {
		return portal.Errorf(portal.ENOTFOUND, "There is no such token.")
	}
	var actor any
	if v.PersonID != "" {
		actor = v.PersonID
	}
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE scim_tokens SET revoked_at = now() WHERE id = $1 AND system_id = $2 AND revoked_at IS NULL`, id, systemID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return portal.Errorf(portal.ENOTFOUND, "There is no such token, or it is revoked already.")
		}
		_, err = tx.Exec(ctx, "SELECT audit_append($1, 'scim_token_revoke', 'connected_system', $2, $3)", actor, systemID,
			map[string]any{"token": id})
		return err
	})
	if err != nil && portal.ErrorCode(err) == portal.EINTERNAL {
		return fmt.Errorf("hr: revoke token: %w", err)
	}
	return err
}

// Tokens lists a system's tokens, newest first.
func (s *Service) Tokens(ctx context.Context, systemID string) ([]Token, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id::text, system_id::text, name, created_at, last_used_at, revoked_at FROM scim_tokens
		WHERE system_id = $1 ORDER BY created_at DESC`, systemID)
	if err != nil {
		return nil, fmt.Errorf("hr: tokens: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Token])
}

// errBadToken is every refusal of a token: which part was wrong is not
// told.
var errBadToken = portal.Errorf(portal.EUNAUTHORIZED, "The bearer token is missing, unknown or revoked.")

// Authenticate returns the HR system a bearer token may send to, and
// records its use.
func (s *Service) Authenticate(ctx context.Context, token string) (string, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 200 {
		return "", errBadToken
	}
	var systemID string
	err := s.Pool.QueryRow(ctx, `UPDATE scim_tokens SET last_used_at = now() WHERE token_hash = $1 AND revoked_at IS NULL
		RETURNING system_id::text`, tokenHash(token)).Scan(&systemID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errBadToken
	} else if err != nil {
		return "", fmt.Errorf("hr: token: %w", err)
	}
	return systemID, nil
}
