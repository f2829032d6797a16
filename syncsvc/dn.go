package syncsvc

import (
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// EscapeRDNValue escapes a name for use as an RDN value (RFC 4514 as AD
// reads it): `, + " \ < > ; =` everywhere, '#' and spaces where they lead,
// spaces where they trail, and control characters as \XX. Other characters,
// non-Latin scripts included, stay as they are (AD takes UTF-8). go-ldap's
// EscapeDN is close but leaves '=' and control characters other than NUL
// unescaped, which AD refuses or reads differently.
func EscapeRDNValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case ch == ',' || ch == '+' || ch == '"' || ch == '\\' || ch == '<' || ch == '>' || ch == ';' || ch == '=':
			b.WriteByte('\\')
			b.WriteByte(ch)
		case (ch == '#' || ch == ' ') && i == 0, ch == ' ' && i == len(v)-1:
			b.WriteByte('\\')
			b.WriteByte(ch)
		case ch < 0x20 || ch == 0x7f:
			fmt.Fprintf(&b, "\\%02X", ch)
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

// ChildDN is the DN of the object named value (an RDN of type attr, such
// as CN or OU) in the container parent.
func ChildDN(attr, value, parent string) string {
	return attr + "=" + EscapeRDNValue(value) + "," + parent
}

// RDNValue returns the unescaped value of dn's first RDN: the name of the
// object, as ChildDN took it.
func RDNValue(dn string) (string, error) {
	rdn, _ := SplitDN(dn)
	_, v, ok := strings.Cut(rdn, "=")
	if !ok {
		return "", fmt.Errorf("%q is not a DN", dn)
	}
	// ParseDN of the RDN alone unescapes exactly as RFC 4514 says,
	// including \XX sequences that make up UTF-8.
	parsed, err := ldap.ParseDN("x=" + v)
	if err != nil {
		return "", fmt.Errorf("ad: parse DN %q: %w", dn, err)
	}
	if len(parsed.RDNs) != 1 || len(parsed.RDNs[0].Attributes) != 1 {
		return "", fmt.Errorf("%q has a multi-valued RDN", dn)
	}
	return parsed.RDNs[0].Attributes[0].Value, nil
}

// SplitDN splits dn at its first unescaped comma into the RDN and the
// parent DN.
func SplitDN(dn string) (rdn, parent string) {
	for i := 0; i < len(dn); i++ {
		switch dn[i] {
		case '\\':
			i++ // the escaped character, or the first of two hex digits
		case ',':
			return dn[:i], dn[i+1:]
		}
	}
	return dn, ""
}

// SameDN reports whether a and b name the same entry; AD compares DNs
// without regard to case.
func SameDN(a, b string) bool {
	pa, errA := ldap.ParseDN(a)
	pb, errB := ldap.ParseDN(b)
	if errA != nil || errB != nil {
		return strings.EqualFold(a, b)
	}
	return pa.EqualFold(pb)
}

// UnderDN reports whether dn is base or lies below it.
func UnderDN(dn, base string) bool {
	pd, errD := ldap.ParseDN(dn)
	pb, errB := ldap.ParseDN(base)
	if errD != nil || errB != nil {
		return strings.HasSuffix(strings.ToLower(dn), strings.ToLower(base))
	}
	return pb.EqualFold(pd) || pb.AncestorOfFold(pd)
}
