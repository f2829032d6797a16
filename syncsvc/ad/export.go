package ad

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/go-ldap/ldap/v3"

	"github.com/tessera-idm/tessera/portal"
	"github.com/tessera-idm/tessera/syncsvc"
)

// Group types for the groupType attribute of a new group.
const (
	GroupTypeGlobalSecurity     = "-2147483646" // 0x80000002
	GroupTypeGlobalDistribution = "2"
)

// userAccountControl bits the connector changes.
const (
	uacAccountDisable = 0x2
	uacPasswdNotReqd  = 0x20
)

// exportWindow is how many exports of different objects the engine keeps
// in flight on the connection. Samba (one process) works through them one
// after another; with the next ones already sent it never waits for the
// engine between two, and eight of its modifies (about 50 ms) cover the
// pauses of a busy client. A failure of the connection fails at most
// these, each reported as unreachable and retried.
const exportWindow = 8

// ExportWindow says that exports of different objects may be in flight
// at once; see syncsvc.WindowedExporter.
func (c *Connector) ExportWindow() int { return exportWindow }

// Export applies changes in order; see syncsvc.Connector.
func (c *Connector) Export(ctx context.Context, changes []syncsvc.ExportChange) []syncsvc.ExportResult {
	results := make([]syncsvc.ExportResult, len(changes))
	for i, ch := range changes {
		results[i] = c.export(ctx, ch)
	}
	return results
}

func (c *Connector) export(ctx context.Context, ch syncsvc.ExportChange) syncsvc.ExportResult {
	res := syncsvc.ExportResult{DN: ch.DN}
	var err error
	switch ch.Op {
	case syncsvc.ExportAdd:
		err = c.add(ctx, ch)
	case syncsvc.ExportModify:
		err = c.modify(ctx, ch.DN, ch.Attributes)
	case syncsvc.ExportRename:
		err = c.rename(ctx, ch.DN, ch.NewDN)
		if err == nil {
			res.DN = ch.NewDN
		}
	case syncsvc.ExportDelete:
		err = c.del(ctx, ch.DN)
	default:
		err = fmt.Errorf("ad: unknown export operation %q", ch.Op)
	}
	if err != nil {
		res.Err = err
		return res
	}
	// A modify leaves the anchor as the engine knows it: reading it back
	// would cost a round trip per change.
	if ch.Op == syncsvc.ExportAdd || ch.Op == syncsvc.ExportRename {
		res.Anchor, res.Err = c.anchorOf(ctx, res.DN)
	}
	return res
}

// add creates the object, then sets what AD does not take in an add: the
// members (in batches), the password and the enabled state.
func (c *Connector) add(ctx context.Context, ch syncsvc.ExportChange) error {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	req := ldap.NewAddRequest(ch.DN, nil)
	switch ch.Class {
	case syncsvc.ObjectUser:
		req.Attribute("objectClass", []string{"user"})
	case syncsvc.ObjectGroup:
		req.Attribute("objectClass", []string{"group"})
	default:
		return fmt.Errorf("ad: add %q: unknown object class %q", ch.DN, ch.Class)
	}
	var members []string
	for _, a := range ch.Attributes {
		if a.Op == syncsvc.AttributeDeleteValues {
			return fmt.Errorf("ad: add %q: cannot delete values of %s from a new object", ch.DN, a.Name)
		}
		switch {
		case len(a.Values) == 0:
		case strings.EqualFold(a.Name, "member"):
			members = append(members, a.Values...)
		case strings.EqualFold(a.Name, "objectClass"), strings.EqualFold(a.Name, "unicodePwd"),
			strings.EqualFold(a.Name, "userAccountControl") && ch.Class == syncsvc.ObjectUser:
			return fmt.Errorf("ad: add %q: set %s through Class, Password and Enabled", ch.DN, a.Name)
		default:
			req.Attribute(a.Name, a.Values)
		}
	}
	sent(reqAdd)
	err = conn.Add(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		// The container is missing: a DN template such as
		// CN={displayName},OU={department},... names OUs on the way.
		_, parent := syncsvc.SplitDN(ch.DN)
		if perr := c.ensureOU(ctx, parent); perr != nil {
			return perr
		}
		sent(reqAdd)
		err = conn.Add(req)
	}
	if err != nil {
		return wrap("add", ch.DN, err)
	}
	if len(members) > 0 {
		if err := c.changeValues(ctx, ch.DN, ldap.AddAttribute, "member", members); err != nil {
			return err
		}
	}
	if ch.Class != syncsvc.ObjectUser {
		return nil
	}
	if ch.Password == "" {
		if ch.Enabled {
			return c.SetEnabled(ctx, ch.DN, true)
		}
		return nil
	}
	if err := c.SetPassword(ctx, ch.DN, ch.Password); err != nil {
		return err
	}
	// AD creates a user without a password as PASSWD_NOTREQD (546); one
	// that has a password should not keep that.
	set, clear := int64(0), int64(uacPasswdNotReqd)
	if ch.Enabled {
		clear |= uacAccountDisable
	}
	return c.changeUAC(ctx, "set userAccountControl of", ch.DN, set, clear)
}

// ensureOU creates the organizational unit dn and any missing OUs above
// it, up to the base DN; it never creates anything outside it.
func (c *Connector) ensureOU(ctx context.Context, dn string) error {
	if dn == "" || syncsvc.SameDN(dn, c.cfg.BaseDN) || !syncsvc.UnderDN(dn, c.cfg.BaseDN) {
		return &Error{Op: "create the container", DN: dn, ResultCode: ldap.LDAPResultNoSuchObject,
			Diagnostic: "it is not under the base DN " + c.cfg.BaseDN}
	}
	if _, err := c.read(ctx, dn, "objectClass"); err == nil {
		return nil
	}
	rdn, parent := syncsvc.SplitDN(dn)
	if !strings.HasPrefix(strings.ToUpper(rdn), "OU=") {
		return &Error{Op: "create the container", DN: dn, ResultCode: ldap.LDAPResultNoSuchObject,
			Diagnostic: "it does not exist, and only OUs are created on the way"}
	}
	if !syncsvc.SameDN(parent, c.cfg.BaseDN) {
		if err := c.ensureOU(ctx, parent); err != nil {
			return err
		}
	}
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	req := ldap.NewAddRequest(dn, nil)
	req.Attribute("objectClass", []string{"organizationalUnit"})
	sent(reqAdd)
	if err := conn.Add(req); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
		return wrap("create the OU", dn, err)
	}
	return nil
}

// modify applies attribute changes. Replacements go in one modify; values
// added or deleted go in batches of MaxValuesPerModify, so that a group's
// members can change by thousands at a time.
func (c *Connector) modify(ctx context.Context, dn string, changes []syncsvc.AttributeChange) error {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	req := ldap.NewModifyRequest(dn, nil)
	type valueChange struct {
		op     uint
		name   string
		values []string
	}
	var valueChanges []valueChange
	for _, a := range changes {
		switch a.Op {
		case syncsvc.AttributeReplace:
			req.Replace(a.Name, a.Values)
		case syncsvc.AttributeAddValues:
			valueChanges = append(valueChanges, valueChange{ldap.AddAttribute, a.Name, a.Values})
		case syncsvc.AttributeDeleteValues:
			if len(a.Values) == 0 {
				req.Delete(a.Name, nil) // the whole attribute
				continue
			}
			valueChanges = append(valueChanges, valueChange{ldap.DeleteAttribute, a.Name, a.Values})
		default:
			return fmt.Errorf("ad: modify %q: unknown attribute operation %q", dn, a.Op)
		}
	}
	if len(req.Changes) > 0 {
		sent(reqModify)
		if err := conn.Modify(req); err != nil {
			return wrap("modify", dn, err)
		}
	}
	for _, vc := range valueChanges {
		if err := c.changeValues(ctx, dn, vc.op, vc.name, vc.values); err != nil {
			return err
		}
	}
	return nil
}

// changeValues adds or deletes values of one attribute in batches. AD fails
// a whole modify when one value is already there (add) or already gone
// (delete); a batch that fails is therefore done again value by value, and
// a value whose failure leaves the attribute as wanted is not an error.
func (c *Connector) changeValues(ctx context.Context, dn string, op uint, name string, values []string) error {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	opName := map[uint]string{ldap.AddAttribute: "add values of " + name + " to", ldap.DeleteAttribute: "delete values of " + name + " from"}[op]
	apply := func(vals []string) error {
		req := ldap.NewModifyRequest(dn, nil)
		if op == ldap.AddAttribute {
			req.Add(name, vals)
		} else {
			req.Delete(name, vals)
		}
		sent(reqModify)
		return conn.Modify(req)
	}
	for start := 0; start < len(values); start += c.cfg.MaxValuesPerModify {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := values[start:min(start+c.cfg.MaxValuesPerModify, len(values))]
		err := apply(batch)
		if err == nil {
			continue
		}
		var le *ldap.Error
		if !errors.As(err, &le) || le.ResultCode >= ldap.ErrorNetwork {
			return wrap(opName, dn, err) // no answer from AD: no point in going on
		}
		for _, v := range batch {
			err := apply([]string{v})
			if err == nil {
				continue
			}
			present, cmpErr := conn.Compare(dn, name, v)
			if cmpErr != nil && !ldap.IsErrorWithCode(cmpErr, ldap.LDAPResultNoSuchAttribute) {
				return wrap(opName, dn, err)
			}
			if present != (op == ldap.AddAttribute) {
				return wrap(fmt.Sprintf("%s (value %q)", opName, v), dn, err)
			}
		}
	}
	return nil
}

// rename changes dn to newDN: a new RDN, a new parent (a move), or both in
// one ModifyDN.
func (c *Connector) rename(ctx context.Context, dn, newDN string) error {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	newRDN, newParent := syncsvc.SplitDN(newDN)
	_, oldParent := syncsvc.SplitDN(dn)
	if newParent == "" {
		return fmt.Errorf("ad: rename %q: new DN %q has no parent", dn, newDN)
	}
	if syncsvc.SameDN(newParent, oldParent) {
		newParent = "" // a rename in place
	}
	req := ldap.NewModifyDNRequest(dn, newRDN, true, newParent)
	sent(reqRename)
	err = conn.ModifyDN(req)
	if newParent != "" && err != nil && c.missingParent(ctx, newParent) {
		// A move into an OU that does not exist yet (a new department).
		if perr := c.ensureOU(ctx, newParent); perr != nil {
			return perr
		}
		sent(reqRename)
		err = conn.ModifyDN(req)
	}
	return wrap("rename to "+newDN, dn, err)
}

// missingParent reports whether the container dn does not exist; AD says
// so in a move with "Other" (80) rather than noSuchObject.
func (c *Connector) missingParent(ctx context.Context, dn string) bool {
	_, err := c.read(ctx, dn, "objectClass")
	return err != nil && errors.Is(err, syncsvc.ErrNoSuchObject)
}

func (c *Connector) del(ctx context.Context, dn string) error {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	sent(reqDelete)
	return wrap("delete", dn, conn.Del(ldap.NewDelRequest(dn, nil)))
}

// anchorOf reads the objectGUID of dn.
func (c *Connector) anchorOf(ctx context.Context, dn string) (string, error) {
	entry, err := c.read(ctx, dn, "objectGUID")
	if err != nil {
		return "", err
	}
	return GUIDString(entry.GetRawAttributeValue("objectGUID"))
}

// Read returns an object as an import would report it; see
// syncsvc.Connector.
func (c *Connector) Read(ctx context.Context, anchor, dn string) (syncsvc.ImportedObject, error) {
	if anchor != "" {
		dn = GUIDDN(anchor)
	}
	entry, err := c.read(ctx, dn, c.importAttributes()...)
	if err != nil {
		return syncsvc.ImportedObject{}, err
	}
	return importedObject(entry)
}

// read returns the entry at dn with the given attributes.
func (c *Connector) read(ctx context.Context, dn string, attrs ...string) (*ldap.Entry, error) {
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return nil, err
	}
	sent(reqSearch)
	res, err := conn.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", attrs, nil))
	if err != nil {
		return nil, wrap("read", dn, err)
	}
	if len(res.Entries) != 1 {
		return nil, &Error{Op: "read", DN: dn, ResultCode: ldap.LDAPResultNoSuchObject, Diagnostic: "no such entry"}
	}
	return res.Entries[0], nil
}

// SetPassword resets the password of the user at dn through unicodePwd:
// the password in double quotes, UTF-16LE, over TLS only.
func (c *Connector) SetPassword(ctx context.Context, dn, password string) error {
	return c.ResetPassword(ctx, dn, password, portal.ResetOptions{})
}

func unicodePwd(password string) string {
	u := utf16.Encode([]rune(`"` + password + `"`))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return string(b)
}

// SetEnabled sets or clears ACCOUNTDISABLE in userAccountControl and keeps
// every other bit (password never expires, smartcard required, ...).
func (c *Connector) SetEnabled(ctx context.Context, dn string, enabled bool) error {
	if enabled {
		return c.changeUAC(ctx, "enable", dn, 0, uacAccountDisable)
	}
	return c.changeUAC(ctx, "disable", dn, uacAccountDisable, 0)
}

// changeUAC sets and clears bits of userAccountControl by read-modify-write.
// The modify deletes the value read and adds the new one, so that a change
// made in between makes it fail instead of being overwritten.
func (c *Connector) changeUAC(ctx context.Context, op, dn string, set, clear int64) error {
	entry, err := c.read(ctx, dn, "userAccountControl")
	if err != nil {
		return err
	}
	old := entry.GetAttributeValue("userAccountControl")
	uac, err := strconv.ParseInt(old, 10, 64)
	if err != nil {
		return fmt.Errorf("ad: %q has userAccountControl %q: %w", dn, old, err)
	}
	next := (uac | set) &^ clear
	if next == uac {
		return nil
	}
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return err
	}
	req := ldap.NewModifyRequest(dn, nil)
	req.Delete("userAccountControl", []string{old})
	req.Add("userAccountControl", []string{strconv.FormatInt(next, 10)})
	sent(reqModify)
	return wrap(op, dn, conn.Modify(req))
}

// Unlock clears a lockout: lockoutTime 0 is the one value AD lets a client
// write there (deleting it is refused), and AD (Samba too) zeroes
// badPwdCount with it. An account whose lockoutTime is not set is left
// as it is: the write would bump its USN, so that every delta import
// and every replication partner would see a change that is none. It
// reports whether lockoutTime was set, so that the person is told the
// truth: unlocked, or not locked and nothing changed.
func (c *Connector) Unlock(ctx context.Context, dn string) (bool, error) {
	set, err := c.lockoutSet(ctx, dn)
	if err != nil || !set {
		return false, err
	}
	conn, err := c.ldapConn(ctx)
	if err != nil {
		return false, err
	}
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace("lockoutTime", []string{"0"})
	sent(reqModify)
	if err := wrap("unlock", dn, conn.Modify(req)); err != nil {
		return false, err
	}
	return true, nil
}

// lockoutSet reports whether the account at dn has lockoutTime set: locked
// now, or locked once and not cleared since. It reads lockoutTime rather
// than the computed lockout bit (0x10 of msDS-User-Account-Control-
// Computed) on purpose: after the lockout duration has passed the bit is
// off but lockoutTime and badPwdCount stay, and the next bad password
// locks the account again at once; clearing them gives the person the
// whole threshold back. The read and the write are two operations: an
// account locked between them stays locked, as it would had the person
// asked a moment earlier.
func (c *Connector) lockoutSet(ctx context.Context, dn string) (bool, error) {
	e, err := c.read(ctx, dn, "lockoutTime")
	if err != nil {
		return false, err
	}
	v := e.GetAttributeValue("lockoutTime")
	return v != "" && v != "0", nil
}
