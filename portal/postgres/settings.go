package postgres

import (
	"context"
	"fmt"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/portal/i18n"
)

// SetTimeZone stores the time zone the viewer reads times in; with
// onlyIfUnset, a zone already stored (one the person chose) stays.
func (db *DB) SetTimeZone(ctx context.Context, v portal.Viewer, zone string, onlyIfUnset bool) error {
	if v.PersonID == "" {
		return portal.Errorf(portal.EUNAUTHORIZED, "Sign in to choose a time zone.")
	}
	if _, err := portal.LoadTimeZone(zone); err != nil || len(zone) > portal.MaxTimeZoneLen {
		return portal.Errorf(portal.EINVALID, "“%s” is not a time zone; choose one such as Europe/Berlin.", zone)
	}
	q := `INSERT INTO person_settings (person_id, time_zone) VALUES ($1, $2)
		ON CONFLICT (person_id) DO UPDATE SET time_zone = EXCLUDED.time_zone, updated_at = now()`
	if onlyIfUnset {
		q += ` WHERE person_settings.time_zone = ''`
	}
	if _, err := db.Pool.Exec(ctx, q, v.PersonID, zone); err != nil {
		return fmt.Errorf("postgres: set time zone: %w", err)
	}
	return nil
}

// SetLanguage stores the language the viewer reads Tessera in ("" to follow
// the browser).
func (db *DB) SetLanguage(ctx context.Context, v portal.Viewer, code string) error {
	if v.PersonID == "" {
		return portal.Errorf(portal.EUNAUTHORIZED, "Sign in to choose a language.")
	}
	if code != "" && !i18n.Supported(code) {
		return portal.Errorf(portal.EINVALID, "Tessera does not speak “%s”; choose one of the languages listed.", code)
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO person_settings (person_id, language) VALUES ($1, $2)
		ON CONFLICT (person_id) DO UPDATE SET language = EXCLUDED.language, updated_at = now()`, v.PersonID, code); err != nil {
		return fmt.Errorf("postgres: set language: %w", err)
	}
	return nil
}
