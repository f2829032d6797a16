package portal

import "context"

// DirectoryAccount is an account in a directory (Active Directory) that has
// just proved its password, with the attributes Tessera matches people by.
type DirectoryAccount struct {
	UserPrincipalName string // userPrincipalName, e.g. zoe@example.com
	SAMAccountName    string // sAMAccountName, the pre-Windows 2000 name
	Mail              string // mail
	EmployeeID        string // employeeID
}

// MatchValue returns the account's value for a person attribute that
// FindPersonByAttribute accepts (employee_id, account_name, email or upn),
// or "" for any other.
func (a DirectoryAccount) MatchValue(attribute string) string {
	switch attribute {
	case "employee_id":
		return a.EmployeeID
	case "account_name":
		return a.SAMAccountName
	case "email":
		return a.Mail
	case "upn":
		return a.UserPrincipalName
	}
	return ""
}

// DirectoryAuthenticator checks a password against a directory by binding
// as the account (LDAP bind sign-in).
type DirectoryAuthenticator interface {
	// Authenticate binds as login (name@realm, DOMAIN\name or a bare name)
	// with password. A wrong password, an unknown, locked or disabled
	// account and an empty password all give the same EUNAUTHORIZED error
	// as a failed local sign-in; an unreachable directory gives an error of
	// another code.
	Authenticate(ctx context.Context, login, password string) (DirectoryAccount, error)
}

// ErrBadCredentials is the one answer to a failed password sign-in, whatever
// the reason, so that it tells nothing about which accounts exist.
var ErrBadCredentials = Errorf(EUNAUTHORIZED, "The account name or password is incorrect.")
