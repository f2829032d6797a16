package entra

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/tessera-idm/tessera/syncsvc"
)

// baseUserProps are read of every user.
var baseUserProps = []string{"id", "userPrincipalName", "displayName", "givenName", "surname", "mailNickname", "accountEnabled",
	"onPremisesImmutableId", "jobTitle", "department", "mail", "employeeId"}

const groupProps = "id,displayName,mailNickname,description,securityEnabled,mailEnabled"

func (c *Connector) userSelect() string {
	props := append([]string{}, baseUserProps...)
	for _, p := range c.extra {
		if !contains(props, p) {
			props = append(props, p)
		}
	}
	return strings.Join(props, ",")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// graphObject is a user or group as Graph sends it.
type graphObject map[string]any

func (o graphObject) id() string           { s, _ := o["id"].(string); return s }
func (o graphObject) text(k string) string { s, _ := o[k].(string); return s }

// userAccountControl values the engine reads to enable and disable
// accounts: Entra's accountEnabled, in AD's words.
const (
	uacEnabled  = "512"
	uacDisabled = "514"
)

// importedUser turns a Graph user into the engine's object.
func (c *Connector) importedUser(o graphObject) syncsvc.ImportedObject {
	dn := UserDN(o.text("userPrincipalName"))
	c.remember(dn, o.id())
	attrs := map[string][]string{}
	for k, v := range o {
		switch v := v.(type) {
		case string:
			if k != "id" && v != "" {
				attrs[k] = []string{v}
			}
		case []any:
			// A String collection (otherMails, businessPhones,
			// proxyAddresses): every value, for multi-valued flows.
			for _, e := range v {
				if e, ok := e.(string); ok && e != "" {
					attrs[k] = append(attrs[k], e)
				}
			}
		case bool:
			attrs[k] = []string{fmt.Sprint(v)}
			if k == "accountEnabled" {
				attrs["userAccountControl"] = []string{map[bool]string{true: uacEnabled, false: uacDisabled}[v]}
			}
		}
	}
	return syncsvc.ImportedObject{Anchor: o.id(), DN: dn, Class: syncsvc.ObjectUser, Attributes: attrs}
}

func (c *Connector) importedGroup(o graphObject) syncsvc.ImportedObject {
	dn := GroupDN(o.text("mailNickname"))
	c.remember(dn, o.id())
	attrs := map[string][]string{}
	for _, k := range []string{"displayName", "mailNickname", "description"} {
		if v := o.text(k); v != "" {
			attrs[k] = []string{v}
		}
	}
	return syncsvc.ImportedObject{Anchor: o.id(), DN: dn, Class: syncsvc.ObjectGroup, Attributes: attrs}
}

// FullImport reads every user, then every security group with its
// members, following @odata.nextLink page by page.
func (c *Connector) FullImport(ctx context.Context, fn func(syncsvc.ImportedObject) error) error {
	if _, err := c.c.Pages(ctx, "/users?$top=999&$select="+c.userSelect(), func(raw json.RawMessage) error {
		var o graphObject
		if err := decode(raw, &o); err != nil {
			return err
		}
		return fn(c.importedUser(o))
	}); err != nil {
		return err
	}
	var groups []graphObject
	if _, err := c.c.Pages(ctx, "/groups?$top=999&$select="+groupProps+"&$filter="+url.QueryEscape("securityEnabled eq true"),
		func(raw json.RawMessage) error {
			var o graphObject
			if err := decode(raw, &o); err != nil {
				return err
			}
			if o["mailEnabled"] != true { // mail-enabled security groups are read-only in Graph
				groups = append(groups, o)
			}
			return nil
		}); err != nil {
		return err
	}
	for _, g := range groups {
		obj := c.importedGroup(g)
		members, err := c.members(ctx, g.id())
		if err != nil {
			return err
		}
		obj.Attributes["member"] = members
		if err := fn(obj); err != nil {
			return err
		}
	}
	return nil
}

// members lists a group's members as DNs.
func (c *Connector) members(ctx context.Context, id string) ([]string, error) {
	var dns []string
	_, err := c.c.Pages(ctx, "/groups/"+url.PathEscape(id)+"/members?$top=999&$select=id,userPrincipalName", func(raw json.RawMessage) error {
		var o graphObject
		if err := decode(raw, &o); err != nil {
			return err
		}
		if t := o.text("@odata.type"); t != "" && t != "#microsoft.graph.user" {
			return nil // groups in groups, devices: not synced
		}
		dn := UserDN(o.text("userPrincipalName"))
		c.remember(dn, o.id())
		dns = append(dns, dn)
		return nil
	})
	return dns, err
}

// watermark is a delta import's state: the deltaLink of each round.
type watermark struct {
	Users  string `json:"users"`
	Groups string `json:"groups"`
}

// DeltaImport reports what changed since watermark (every object when it
// is empty) through users/delta and groups/delta, and returns the new
// deltaLinks as the next watermark. An expired delta token gives an error
// matching syncsvc.ErrWatermarkExpired: the engine then runs a full import.
func (c *Connector) DeltaImport(ctx context.Context, wm []byte, fn func(syncsvc.ImportedObject) error) ([]byte, error) {
	var w watermark
	if len(wm) > 0 {
		if err := json.Unmarshal(wm, &w); err != nil {
			return nil, fmt.Errorf("%w: the watermark is not Entra's", syncsvc.ErrWatermarkExpired)
		}
	}
	for _, link := range []string{w.Users, w.Groups} {
		if link != "" && !c.c.Owns(link) {
			// Kept from before the system's Graph URL changed: the delta
			// starts again here.
			return nil, fmt.Errorf("%w: %w", syncsvc.ErrWatermarkExpired, &ForeignLinkError{Link: link, GraphURL: c.c.cfg.GraphURL})
		}
	}
	if w.Users == "" {
		w.Users = "/users/delta?$select=" + c.userSelect()
	}
	if w.Groups == "" {
		w.Groups = "/groups/delta?$select=displayName,mailNickname,description,members"
	}
	var next watermark
	var err error
	next.Users, err = c.c.Pages(ctx, w.Users, func(raw json.RawMessage) error {
		var o graphObject
		if err := decode(raw, &o); err != nil {
			return err
		}
		if _, removed := o["@removed"]; removed {
			// Soft-deleted ("changed") or gone for good ("deleted"): either
			// way no longer a user of the tenant; a restore brings it back
			// as a full object.
			return fn(syncsvc.ImportedObject{Anchor: o.id(), Class: syncsvc.ObjectUser, Deleted: true})
		}
		return fn(c.importedUser(o))
	})
	if err != nil {
		return nil, expired(err)
	}
	// Groups come second: their members are users the first round named.
	next.Groups, err = c.c.Pages(ctx, w.Groups, func(raw json.RawMessage) error {
		var o graphObject
		if err := decode(raw, &o); err != nil {
			return err
		}
		if _, removed := o["@removed"]; removed {
			return fn(syncsvc.ImportedObject{Anchor: o.id(), Class: syncsvc.ObjectGroup, Deleted: true})
		}
		obj := c.importedGroup(o)
		if obj.DN == GroupDN("") {
			obj.DN = "" // a delta entry without the name: the connector space knows it
		}
		var changes []map[string]any
		if raw, ok := o["members@delta"]; ok {
			data, _ := json.Marshal(raw)
			if err := json.Unmarshal(data, &changes); err != nil {
				return fmt.Errorf("entra: read members@delta: %w", err)
			}
		}
		for _, m := range changes {
			id, _ := m["id"].(string)
			if t, _ := m["@odata.type"].(string); t != "" && t != "#microsoft.graph.user" {
				continue
			}
			if _, removed := m["@removed"]; removed {
				// A removed member may be a user deleted for good: its DN
				// is known only if this connector saw it.
				dn, err := c.dnOf(ctx, id)
				if err != nil {
					if errors.Is(err, syncsvc.ErrNoSuchObject) {
						continue
					}
					return err
				}
				obj.MembersRemoved = append(obj.MembersRemoved, dn)
				continue
			}
			dn, err := c.dnOf(ctx, id)
			if err != nil {
				return err
			}
			obj.MembersAdded = append(obj.MembersAdded, dn)
		}
		return fn(obj)
	})
	if err != nil {
		return nil, expired(err)
	}
	return json.Marshal(next)
}

// expired makes Graph's "token expired" answers (400 syncStateNotFound,
// 410 Gone with a Location to start again) match ErrWatermarkExpired.
func expired(err error) error {
	var ge *Error
	if errors.As(err, &ge) && (strings.EqualFold(ge.Code, "syncStateNotFound") || strings.EqualFold(ge.Code, "resyncRequired") ||
		ge.Status == http.StatusGone) {
		return fmt.Errorf("%w: %w", syncsvc.ErrWatermarkExpired, err)
	}
	return err
}

// Read returns one object: by its object id when anchor is set, otherwise
// by its DN.
func (c *Connector) Read(ctx context.Context, anchor, dn string) (syncsvc.ImportedObject, error) {
	if anchor == "" {
		name, class, err := nameOf(dn)
		if err != nil {
			return syncsvc.ImportedObject{}, err
		}
		if class == syncsvc.ObjectUser {
			anchor = name
		} else if anchor, err = c.idOf(ctx, dn); err != nil {
			return syncsvc.ImportedObject{}, err
		}
		if class == syncsvc.ObjectGroup {
			return c.readGroup(ctx, anchor)
		}
	}
	var o graphObject
	err := c.c.Do(ctx, http.MethodGet, "/users/"+url.PathEscape(anchor)+"?$select="+c.userSelect(), nil, &o)
	if err == nil {
		return c.importedUser(o), nil
	}
	if !errors.Is(err, syncsvc.ErrNoSuchObject) || strings.Contains(anchor, "@") {
		return syncsvc.ImportedObject{}, err
	}
	return c.readGroup(ctx, anchor)
}

func (c *Connector) readGroup(ctx context.Context, id string) (syncsvc.ImportedObject, error) {
	var o graphObject
	if err := c.c.Do(ctx, http.MethodGet, "/groups/"+url.PathEscape(id)+"?$select="+groupProps, nil, &o); err != nil {
		return syncsvc.ImportedObject{}, err
	}
	obj := c.importedGroup(o)
	members, err := c.members(ctx, id)
	if err != nil {
		return syncsvc.ImportedObject{}, err
	}
	obj.Attributes["member"] = members
	return obj, nil
}
