package syncsvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tessera-idm/tessera/portal"
)

// PasswordConnector is a connector that can set, change and unlock
// passwords and read an account's state: what the password pages need of a
// connected system besides the engine's Connector.
type PasswordConnector interface {
	Connector
	// ResetPassword sets password without the current one, unlocking or
	// requiring a change in the same operation as o says.
	ResetPassword(ctx context.Context, dn, password string, o portal.ResetOptions) error
	// ChangePassword changes the password with the current one, so that
	// the system's history and minimum age apply.
	ChangePassword(ctx context.Context, dn, current, password string) error
	// AccountState reads the account live.
	AccountState(ctx context.Context, dn string) (portal.AccountState, error)
	// PasswordRules reads the rules the system applies to the account.
	PasswordRules(ctx context.Context, dn string) (portal.DirectoryRules, error)
	// ExpiringAccounts lists the accounts in scope whose password
	// expires before before.
	ExpiringAccounts(ctx context.Context, before time.Time) ([]ExpiringAccount, error)
}

// ErrCannotCheckPassword is what a PasswordConnector's ChangePassword
// answers when its system cannot check the current password (Entra ID with
// application permissions): Accounts.ChangePassword then sets the new
// password there as a reset, once a system that checks the current
// password took the change.
var ErrCannotCheckPassword = errors.New("syncsvc: the system cannot check the current password")

// ErrCannotUnlock is what a connector's Unlock answers when its system's
// lockouts can be neither read nor ended (Entra ID's smart lockout):
// Accounts.Unlock then leaves the system out of its results rather than
// say the account was not locked there.
var ErrCannotUnlock = errors.New("syncsvc: the system's lockouts cannot be ended from here")

// ExpiringAccount is an account whose password expires soon.
type ExpiringAccount struct {
	DN      string
	Expires time.Time
}

// Accounts acts on people's accounts in the connected systems, through the
// engine's connectors: portal.AccountSystems. It keeps a few idle
// connections per system, since a password reset is waited for by a person
// and connecting (TLS, bind) costs as much as the reset itself.
type Accounts struct {
	Engine *Engine

	mu   sync.Mutex
	idle map[string][]Connector // by system ID
	// rules are the password rules read lately, by system ID and DN: the
	// form that explains them reads them, and the submission a moment
	// later finds them here instead of asking the system again before
	// the password is set (which checks them itself anyway).
	rules map[string]readRules
	// listed are people's accounts as read lately, by person ID, for
	// their rules alone (rulesAccounts): the form that explains the rules
	// and the live check as the password is typed find them here rather
	// than in the database each time. Setting a password reads them
	// afresh (and puts them here).
	listed map[string]readAccounts
	// systems are the connected systems as last read, by ID: read again
	// when their updated_at moves, which every change of them does.
	systems map[string]*portal.ConnectedSystem
}

// readRules are an account's password rules as read at a time.
type readRules struct {
	rules portal.DirectoryRules
	at    time.Time
}

// readAccounts are a person's accounts as read at a time.
type readAccounts struct {
	list []account
	at   time.Time
}

// Rules read from a system, and the accounts they were read for, are
// taken as read for rulesFor; at most maxRules accounts' rules (and as
// many people's accounts) are kept.
const (
	rulesFor = time.Minute
	maxRules = 10000
)

var _ portal.AccountSystems = (*Accounts)(nil)

// maxIdle bounds the idle connections kept per system.
const maxIdle = 32

// account is one of a person's accounts: a joined user object.
type account struct {
	sys portal.ConnectedSystem
	dn  string
}

// readOnceKey is the context key of ReadAccountsOnce's memo.
type readOnceKey struct{}

// readOnce holds the accounts of the people read in one request.
type readOnce struct {
	mu     sync.Mutex
	people map[string][]account
}

// ReadAccountsOnce returns ctx in which Accounts reads a person's accounts
// from the database once, however many actions on them it runs: a reset
// checks the password against the directories' rules and then sets it in
// the same accounts, read a moment before, rather than reading them again.
// For one request's work, not to be kept.
func ReadAccountsOnce(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnceKey{}, &readOnce{people: map[string][]account{}})
}

// accounts lists the person's joined user accounts in connected systems,
// in one statement while the systems are as last read (system); once per
// person in a context of ReadAccountsOnce.
func (a *Accounts) accounts(ctx context.Context, personID string) ([]account, error) {
	memo, _ := ctx.Value(readOnceKey{}).(*readOnce)
	if memo == nil {
		return a.readAccounts(ctx, personID)
	}
	memo.mu.Lock()
	defer memo.mu.Unlock()
	if list, ok := memo.people[personID]; ok {
		return slices.Clone(list), nil
	}
	list, err := a.readAccounts(ctx, personID)
	if err != nil {
		return nil, err
	}
	memo.people[personID] = list
	return slices.Clone(list), nil
}

// rulesAccounts lists the person's accounts whose rules PasswordRules
// reads: in a context of ReadAccountsOnce, those the action then runs on
// (accounts); otherwise as read within rulesFor, like the rules
// themselves. The rules explain and pre-check a password, and every
// system checks it again when it is set, so a list a moment old costs
// at most a pre-check the system then makes itself; a reset of a
// person's password read their accounts twice more from the database
// without it (the new password's page, the live check) besides the read
// for the submission.
func (a *Accounts) rulesAccounts(ctx context.Context, personID string) ([]account, error) {
	if memo, _ := ctx.Value(readOnceKey{}).(*readOnce); memo != nil {
		return a.accounts(ctx, personID)
	}
	a.mu.Lock()
	cached, ok := a.listed[personID]
	// A system changed since (system read it again, and closed the
	// connections made with what it was) is not asked with what it was.
	for _, acc := range cached.list {
		if sys := a.systems[acc.sys.ID]; sys == nil || !sys.UpdatedAt.Equal(acc.sys.UpdatedAt) {
			ok = false
		}
	}
	a.mu.Unlock()
	if ok && time.Since(cached.at) < rulesFor {
		return slices.Clone(cached.list), nil
	}
	return a.readAccounts(ctx, personID)
}

// readAccounts reads the person's accounts (accounts). An HR source's
// object is the person's record, not an account: nothing there has a
// password to set, unlock or read rules of.
func (a *Accounts) readAccounts(ctx context.Context, personID string) ([]account, error) {
	rows, err := a.Engine.Pool.Query(ctx, `SELECT o.system_id::text, o.dn, s.updated_at FROM cs_objects o
		JOIN connected_systems s ON s.id = o.system_id
		WHERE o.person_id = $1 AND o.class = 'user' AND o.anchor IS NOT NULL AND o.deprovisioned_at IS NULL
			AND s.type <> $2
		ORDER BY o.system_id`, personID, string(portal.SystemHR))
	if err != nil {
		return nil, fmt.Errorf("syncsvc: accounts of %s: %w", personID, err)
	}
	type row struct {
		SystemID, DN string
		UpdatedAt    time.Time
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return nil, fmt.Errorf("syncsvc: accounts of %s: %w", personID, err)
	}
	out := make([]account, 0, len(list))
	for _, r := range list {
		sys, err := a.system(ctx, r.SystemID, r.UpdatedAt)
		if err != nil {
			return nil, err
		}
		out = append(out, account{sys: *sys, dn: r.DN})
	}
	a.mu.Lock()
	if a.listed == nil || len(a.listed) >= maxRules {
		a.listed = map[string]readAccounts{}
	}
	a.listed[personID] = readAccounts{list: slices.Clone(out), at: time.Now()}
	a.mu.Unlock()
	return out, nil
}

// system returns the connected system id as it was when updated at
// updated: as last read, or read again (and its idle connections, made
// with what it was, closed).
func (a *Accounts) system(ctx context.Context, id string, updated time.Time) (*portal.ConnectedSystem, error) {
	a.mu.Lock()
	sys, ok := a.systems[id]
	a.mu.Unlock()
	if ok && sys.UpdatedAt.Equal(updated) {
		return sys, nil
	}
	sys, err := a.Engine.Systems.FindConnectedSystem(ctx, id)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.systems == nil {
		a.systems = map[string]*portal.ConnectedSystem{}
	}
	if old, ok := a.systems[id]; ok && !old.UpdatedAt.Equal(sys.UpdatedAt) {
		for _, c := range a.idle[id] {
			c.Close()
		}
		delete(a.idle, id)
	}
	a.systems[id] = sys
	return sys, nil
}

// with runs fn on a connection to sys, from the idle ones when there is
// one; a connection that failed to answer is closed, not kept.
func (a *Accounts) with(ctx context.Context, sys portal.ConnectedSystem, fn func(PasswordConnector) error) error {
	a.mu.Lock()
	var conn Connector
	if n := len(a.idle[sys.ID]); n > 0 {
		conn = a.idle[sys.ID][n-1]
		a.idle[sys.ID] = a.idle[sys.ID][:n-1]
	}
	a.mu.Unlock()
	if conn == nil {
		var err error
		if conn, err = a.Engine.Open(ctx, sys); err != nil {
			return err
		}
	}
	pc, ok := conn.(PasswordConnector)
	if !ok {
		conn.Close()
		return portal.Errorf(portal.EINVALID, "%s cannot set passwords.", sys.Name)
	}
	err := fn(pc)
	if errors.Is(err, ErrUnreachable) || ctx.Err() != nil {
		conn.Close()
		return err
	}
	a.mu.Lock()
	if a.idle == nil {
		a.idle = map[string][]Connector{}
	}
	if len(a.idle[sys.ID]) < maxIdle {
		a.idle[sys.ID] = append(a.idle[sys.ID], conn)
		conn = nil
	}
	a.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
	return err
}

// Close closes the idle connections.
func (a *Accounts) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, list := range a.idle {
		for _, c := range list {
			c.Close()
		}
	}
	a.idle = nil
}

// each runs fn on every account of the person, in every system at once (a
// person waits for the slowest system, not for their sum), and reports
// each system's outcome in the person's words, in the accounts' order: a
// refusal names the system and the rule, anything else says the system
// could not be reached without its internals. It returns when every
// system answered.
func (a *Accounts) each(ctx context.Context, personID, what string, fn func(PasswordConnector, string) error) ([]portal.SystemResult, error) {
	list, err := a.accounts(ctx, personID)
	if err != nil {
		return nil, err
	}
	return a.eachOf(ctx, list, what, func(_ int, c PasswordConnector, dn string) error { return fn(c, dn) }), nil
}

// eachOf is each over list; fn is given the account's index in it.
func (a *Accounts) eachOf(ctx context.Context, list []account, what string, fn func(int, PasswordConnector, string) error) []portal.SystemResult {
	out := make([]portal.SystemResult, len(list))
	var wg sync.WaitGroup
	for i, acc := range list {
		wg.Go(func() {
			err := a.with(ctx, acc.sys, func(c PasswordConnector) error { return fn(i, c, acc.dn) })
			if err != nil {
				a.Engine.logger().Warn("account action failed", "action", what, "system", acc.sys.Name, "dn", acc.dn, "error", err)
				err = systemError(acc.sys.Name, what, err)
			}
			out[i] = portal.SystemResult{System: acc.sys.Name, Err: err}
		})
	}
	wg.Wait()
	return out
}

// systemError says what went wrong in a system, for the person: AD's
// refusal in plain words, that the account is gone there, or that it could
// not be reached.
func systemError(system, what string, err error) error {
	if portal.ErrorCode(err) != portal.EINTERNAL {
		return portal.Errorf(portal.ErrorCode(err), "%s: %s could not be done: %s.", system, portal.Textf(what), portal.Reason(err))
	}
	if errors.Is(err, ErrNoSuchObject) {
		// Deleted there behind the engine's back (an administrator of that
		// system): the next import will see it; the person and the
		// helpdesk must know now.
		return fmt.Errorf("%w: %w", portal.Errorf(portal.ENOTFOUND, "%s: %s could not be done: the account is not there any more (it may have been deleted there).", system, portal.Textf(what)), err)
	}
	if errors.Is(err, ErrUnreachable) {
		return fmt.Errorf("%w: %w", portal.Errorf(portal.EINTERNAL, "%s: %s could not be done: it did not answer. Try again in a few minutes.", system, portal.Textf(what)), err)
	}
	return fmt.Errorf("%w: %w", portal.Errorf(portal.EINTERNAL, "%s: %s could not be done; the administrators can read why in the server log.", system, portal.Textf(what)), err)
}

// AccountStates reads each account live; a system that cannot be read
// gives a state with Error set.
func (a *Accounts) AccountStates(ctx context.Context, personID string) ([]portal.AccountState, error) {
	list, err := a.accounts(ctx, personID)
	if err != nil {
		return nil, err
	}
	out := make([]portal.AccountState, 0, len(list))
	for _, acc := range list {
		var s portal.AccountState
		err := a.with(ctx, acc.sys, func(c PasswordConnector) error {
			var err error
			s, err = c.AccountState(ctx, acc.dn)
			return err
		})
		if err != nil {
			s = portal.AccountState{DN: acc.dn, Err: systemError(acc.sys.Name, portal.Mark("reading the account"), err)}
		}
		s.System, s.SystemID = acc.sys.Name, acc.sys.ID
		out = append(out, s)
	}
	return out, nil
}

// PasswordRules reads each system's rules for the person's account.
func (a *Accounts) PasswordRules(ctx context.Context, personID string) ([]portal.DirectoryRules, error) {
	list, err := a.rulesAccounts(ctx, personID)
	if err != nil {
		return nil, err
	}
	out := make([]portal.DirectoryRules, 0, len(list))
	for _, acc := range list {
		key := acc.sys.ID + "\x00" + acc.dn
		a.mu.Lock()
		cached, ok := a.rules[key]
		a.mu.Unlock()
		if ok && time.Since(cached.at) < rulesFor {
			out = append(out, cached.rules)
			continue
		}
		var r portal.DirectoryRules
		err := a.with(ctx, acc.sys, func(c PasswordConnector) error {
			var err error
			r, err = c.PasswordRules(ctx, acc.dn)
			return err
		})
		if err != nil {
			// The rules explain; the system still checks. A password is
			// not refused because they could not be read.
			a.Engine.logger().Warn("password rules not read", "system", acc.sys.Name, "error", err)
			continue
		}
		r.System = acc.sys.Name
		a.mu.Lock()
		if a.rules == nil || len(a.rules) >= maxRules {
			a.rules = map[string]readRules{}
		}
		a.rules[key] = readRules{rules: r, at: time.Now()}
		a.mu.Unlock()
		out = append(out, r)
	}
	return out, nil
}

// ResetPassword sets password in every system where the person has an
// account.
func (a *Accounts) ResetPassword(ctx context.Context, personID, password string, o portal.ResetOptions) ([]portal.SystemResult, error) {
	return a.each(ctx, personID, portal.Mark("setting the password"), func(c PasswordConnector, dn string) error {
		return c.ResetPassword(ctx, dn, password, o)
	})
}

// ChangePassword changes the password in every system where the person
// has an account, with the current one. A system that cannot check the
// current password (ErrCannotCheckPassword) gets the new one as a reset,
// but only once another system checked the current password and took the
// change: a wrong current password never sets a password anywhere.
func (a *Accounts) ChangePassword(ctx context.Context, personID, current, password string) ([]portal.SystemResult, error) {
	list, err := a.accounts(ctx, personID)
	if err != nil {
		return nil, err
	}
	what := portal.Mark("changing the password")
	unchecked := make([]bool, len(list))
	out := a.eachOf(ctx, list, what, func(i int, c PasswordConnector, dn string) error {
		err := c.ChangePassword(ctx, dn, current, password)
		if errors.Is(err, ErrCannotCheckPassword) {
			unchecked[i] = true
			return nil
		}
		return err
	})
	checked := false
	var later []account
	var at []int
	for i, r := range out {
		if unchecked[i] {
			later, at = append(later, list[i]), append(at, i)
		} else if r.Err == nil {
			checked = true
		}
	}
	if len(later) == 0 {
		return out, nil
	}
	if !checked {
		for _, i := range at {
			out[i].Err = portal.Errorf(portal.EINVALID, "%s: %s could not be done: it cannot check your current password, and no other system took the change. Use “Forgot your password?” on the sign-in page instead.", list[i].sys.Name, portal.Textf(what))
		}
		return out, nil
	}
	for j, r := range a.eachOf(ctx, later, what, func(_ int, c PasswordConnector, dn string) error {
		return c.ResetPassword(ctx, dn, password, portal.ResetOptions{})
	}) {
		out[at[j]] = r
	}
	return out, nil
}

// Unlock clears lockouts; a system where the account was not locked says
// so (SystemResult.Unchanged); a system whose lockouts cannot be ended
// (ErrCannotUnlock) is left out.
func (a *Accounts) Unlock(ctx context.Context, personID string) ([]portal.SystemResult, error) {
	list, err := a.accounts(ctx, personID)
	if err != nil {
		return nil, err
	}
	unlocked, cannot := make([]bool, len(list)), make([]bool, len(list))
	all := a.eachOf(ctx, list, portal.Mark("unlocking the account"), func(i int, c PasswordConnector, dn string) error {
		var err error
		unlocked[i], err = c.Unlock(ctx, dn)
		if errors.Is(err, ErrCannotUnlock) {
			cannot[i] = true
			return nil
		}
		return err
	})
	var out []portal.SystemResult
	for i, r := range all {
		if !cannot[i] {
			r.Unchanged = r.Err == nil && !unlocked[i]
			out = append(out, r)
		}
	}
	return out, nil
}

// SetEnabled enables or disables the accounts.
func (a *Accounts) SetEnabled(ctx context.Context, personID string, enabled bool) ([]portal.SystemResult, error) {
	what := portal.Mark("disabling the account")
	if enabled {
		what = portal.Mark("enabling the account")
	}
	return a.each(ctx, personID, what, func(c PasswordConnector, dn string) error {
		return c.SetEnabled(ctx, dn, enabled)
	})
}

// ExpiringPasswords lists the people whose password in a connected system
// expires within the next within, with where to remind them.
func (a *Accounts) ExpiringPasswords(ctx context.Context, within time.Duration) ([]portal.ExpiringPassword, error) {
	systems, err := a.Engine.Systems.ListConnectedSystems(ctx)
	if err != nil {
		return nil, err
	}
	var out []portal.ExpiringPassword
	for _, sys := range systems {
		if sys.Type == portal.SystemHR {
			// An HR source holds people's records, not accounts with
			// passwords: nothing expires there, and asking it only
			// warned at every start of the demo.
			continue
		}
		var list []ExpiringAccount
		err := a.with(ctx, sys, func(c PasswordConnector) error {
			var err error
			list, err = c.ExpiringAccounts(ctx, time.Now().Add(within))
			return err
		})
		if err != nil {
			// One system down does not keep the others' reminders.
			a.Engine.logger().Warn("expiring passwords not read", "system", sys.Name, "error", err)
			continue
		}
		if len(list) == 0 {
			continue
		}
		dns := make([]string, len(list))
		expires := make([]time.Time, len(list))
		for i, e := range list {
			dns[i], expires[i] = strings.ToLower(e.DN), e.Expires
		}
		rows, err := a.Engine.Pool.Query(ctx, `SELECT p.id::text, p.display_name, p.email, x.expires,
				coalesce(ps.language, ''), coalesce(ps.time_zone, '')
			FROM unnest($2::text[], $3::timestamptz[]) AS x(dn, expires)
			JOIN cs_objects cs ON cs.system_id = $1 AND lower(cs.dn) = x.dn AND cs.class = 'user'
			JOIN people p ON p.id = cs.person_id
			LEFT JOIN person_settings ps ON ps.person_id = p.id
			WHERE p.account_enabled AND p.email <> ''`, sys.ID, dns, expires)
		if err != nil {
			return nil, fmt.Errorf("syncsvc: expiring passwords of %s: %w", sys.Name, err)
		}
		for rows.Next() {
			e := portal.ExpiringPassword{SystemID: sys.ID, System: sys.Name}
			if err := rows.Scan(&e.PersonID, &e.Name, &e.Email, &e.Expires, &e.Language, &e.TimeZone); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, e)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
