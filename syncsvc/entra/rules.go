package entra

import (
	"context"

	"github.com/tessera-idm/tessera/syncsvc"
)

// DefaultUserRule provisions people as Entra ID users named
// accountName@domain, with the portal's attributes flowing out, enabled
// with a random password no one knows (people set theirs through password
// reset), and disabled when they leave the scope. Without a domain they
// are named in the tenant's initial one (FixUPN).
func DefaultUserRule(systemID, domain string) syncsvc.SyncRule {
	name := "{accountName}"
	if domain != "" {
		name += "@" + domain
	}
	return syncsvc.SyncRule{
		SystemID: systemID, Class: syncsvc.ObjectUser,
		Outbound: []syncsvc.OutboundFlow{
			{CS: "mailNickname", Expr: "person.accountName", InitialOnly: true},
			{CS: "displayName", Expr: "person.displayName"},
			{CS: "givenName", Expr: "person.givenName"},
			{CS: "surname", Expr: "person.surname"},
			{CS: "jobTitle", Expr: "person.title"},
			{CS: "department", Expr: "person.department"},
			{CS: "officeLocation", Expr: "person.office"},
			{CS: "mobilePhone", Expr: "person.mobile"},
		},
		Provision: true, DNTemplate: "CN=" + name + "," + usersOU,
		InitialPassword: "random", EnableOnCreate: true, Deprovision: syncsvc.DeprovisionDisable,
	}
}

// DefaultGroupRule provisions the portal's groups as security groups named
// by mailNickname, with their members; a group that leaves the portal is
// deleted (Graph deletes security groups for good).
func DefaultGroupRule(systemID string) syncsvc.SyncRule {
	return syncsvc.SyncRule{
		SystemID: systemID, Class: syncsvc.ObjectGroup,
		JoinRules: []syncsvc.JoinRule{{CS: "mailNickname", MV: "name"}},
		Outbound: []syncsvc.OutboundFlow{
			{CS: "displayName", Expr: "group.displayName"},
			{CS: "description", Expr: "group.description"},
		},
		Provision: true, DNTemplate: "CN={name}," + groupsOU, Deprovision: syncsvc.DeprovisionDelete,
	}
}

// AttributeLimits are the lengths Graph documents for the user properties
// Tessera writes, so that the portal refuses at submission what Entra ID
// would refuse after approval.
func (c *Connector) AttributeLimits(ctx context.Context) (map[string]int, error) {
	return map[string]int{"displayname": 256, "givenname": 64, "surname": 64, "mailnickname": 64, "jobtitle": 128,
		"department": 64, "companyname": 64, "mobilephone": 64, "employeeid": 16, "city": 128, "state": 128, "country": 128,
		"postalcode": 40, "streetaddress": 1024}, nil
}
