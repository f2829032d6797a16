package entra

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// Passwords in Entra ID for the password pages (syncsvc.PasswordConnector):
// the self-service reset, the helpdesk's reset and the account's state.
// With application permissions Graph sets a password only as an
// administrator's reset, through passwordProfile.

var _ syncsvc.PasswordConnector = (*Connector)(nil)

// cloudRules is Entra ID's cloud password policy for accounts whose
// password is set in the cloud: 8 to 256 characters, three of capital
// letters, small letters, digits and symbols, and nothing outside them.
var cloudRules = portal.DirectoryRules{MinLength: 8, MaxLength: 256, Complexity: true, ASCIIOnly: true,
	From: portal.Mark("Entra ID's cloud password policy")}

// ResetPassword sets password through passwordProfile, ahead of bulk work
// (a person waits), and forceChangePasswordNextSignIn when the password
// is a temporary one. Unlocking asks nothing more: Entra ID's smart
// lockout ends by itself, and Graph has no call to end it sooner.
func (c *Connector) ResetPassword(ctx context.Context, dn, password string, o portal.ResetOptions) error {
	return passwordError(c.patchUser(syncsvc.PersonWaiting(ctx), dn, map[string]any{"passwordProfile": map[string]any{
		"forceChangePasswordNextSignIn": o.MustChange, "password": password}}))
}

// ChangePassword cannot check the current password: Graph's
// changePassword acts only for the signed-in user. It answers
// syncsvc.ErrCannotCheckPassword, and the change is made here as a reset
// once a system that checks the current password took it.
func (c *Connector) ChangePassword(ctx context.Context, dn, current, password string) error {
	return syncsvc.ErrCannotCheckPassword
}

// AccountState reads whether the account is enabled and must change its
// password. Entra ID's smart lockout is not readable through Graph: Locked
// stays false.
func (c *Connector) AccountState(ctx context.Context, dn string) (portal.AccountState, error) {
	id, err := c.idOf(ctx, dn)
	if err != nil {
		return portal.AccountState{}, err
	}
	var u struct {
		AccountEnabled  bool `json:"accountEnabled"`
		PasswordProfile *struct {
			ForceChange bool `json:"forceChangePasswordNextSignIn"`
		} `json:"passwordProfile"`
	}
	if err := c.c.Do(ctx, http.MethodGet, "/users/"+url.PathEscape(id)+"?$select=id,accountEnabled,passwordProfile", nil, &u); err != nil {
		return portal.AccountState{}, err
	}
	return portal.AccountState{DN: dn, Enabled: u.AccountEnabled, MustChange: u.PasswordProfile != nil && u.PasswordProfile.ForceChange}, nil
}

// PasswordRules are Entra ID's cloud password policy, the same for every
// account.
func (c *Connector) PasswordRules(ctx context.Context, dn string) (portal.DirectoryRules, error) {
	return cloudRules, nil
}

// ExpiringAccounts lists none: Graph v1.0 does not give an application the
// tenant's password expiry, and the reminders are for the directories
// whose passwords expire by their own rules (AD's maxPwdAge).
func (c *Connector) ExpiringAccounts(ctx context.Context, before time.Time) ([]syncsvc.ExpiringAccount, error) {
	return nil, nil
}

// passwordError turns Graph's refusal of a password into plain words that
// name the rule, as an EINVALID portal error; the *Error stays in the
// chain for the administrators' logs.
func passwordError(err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Message, "password") {
		return err
	}
	// The portal error comes first in the chain, so that the person reads
	// the plain words.
	return fmt.Errorf("%w: %w", portal.Errorf(portal.EINVALID, "it does not meet Entra ID's password rules: 8 to 256 characters of at least 3 kinds (capital letters, small letters, digits, symbols), and no letters with accents or from other alphabets"), e)
}
