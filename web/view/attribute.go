package view

import (
	"strconv"

	"github.com/tessera-idm/tessera/portal"
)

// hasPrivileged reports whether some of a profile's extra attributes are
// not for everyone's eyes.
func hasPrivileged(attrs []portal.AttributeValue) bool {
	for _, a := range attrs {
		if a.Privileged() {
			return true
		}
	}
	return false
}

// boolValue reads a stored boolean value as people say it.
func boolValue(v string) string {
	if b, err := strconv.ParseBool(v); err == nil {
		return yesNo(b)
	}
	return v
}
