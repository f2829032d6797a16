package web

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the address of the browser that sent r, the one answer for
// every place that needs it (logs, audit, sign-in budgets). It is the
// direct peer, unless the peer is one of Config.TrustedProxies: then it is
// the right-most address in X-Forwarded-For (or, without that header, in
// Forwarded, RFC 7239) that is not itself a trusted proxy. Addresses to the
// left of it were written by whoever sent the request and prove nothing.
func (s *Server) clientAddr(r *http.Request) netip.Addr {
	return clientAddr(r, s.Config.TrustedProxies)
}

func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := peerAddr(r.RemoteAddr)
	if !peer.IsValid() || !inPrefixes(peer, trusted) {
		return peer
	}
	// X-Forwarded-For first: nginx, HAProxy, Traefik, Caddy, Envoy and the
	// cloud load balancers append to it and pass a Forwarded header that
	// the client sent through untouched.
	var hops []string
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			hops = append(hops, strings.Split(v, ",")...)
		}
	} else {
		for _, v := range r.Header.Values("Forwarded") {
			hops = append(hops, forwardedFor(v)...)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a := parseNode(hops[i])
		if !a.IsValid() {
			// "unknown", an obfuscated name or garbage: the client is
			// somewhere behind the last proxy we believe.
			return client
		}
		client = a
		if !inPrefixes(a, trusted) {
			return a
		}
	}
	return client
}

// peerAddr parses http.Request.RemoteAddr ("ip:port").
func peerAddr(remote string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	a, _ := netip.ParseAddr(remote)
	return a.Unmap().WithZone("")
}

func inPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseNode parses one hop of X-Forwarded-For or one Forwarded "for"
// value: 192.0.2.1, 192.0.2.1:4711, 2001:db8::1, [2001:db8::1]:4711, with
// or without quotes. Anything else is the zero Addr.
func parseNode(s string) netip.Addr {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}
		}
		s = s[1:end]
	} else if host, _, err := net.SplitHostPort(s); err == nil && strings.Count(s, ":") == 1 {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// forwardedFor returns the "for" values of one Forwarded header, element by
// element, left to right: `for=192.0.2.60;proto=http, for="[2001:db8::17]"`.
func forwardedFor(header string) []string {
	var out []string
	for _, element := range splitQuoted(header, ',') {
		found := ""
		for _, pair := range splitQuoted(element, ';') {
			name, value, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(strings.TrimSpace(name), "for") {
				found = strings.TrimSpace(value)
			}
		}
		// An element without "for" is a hop that did not say: it counts,
		// as an unknown one.
		out = append(out, found)
	}
	return out
}

// splitQuoted splits s at sep outside double-quoted strings.
func splitQuoted(s string, sep byte) []string {
	var parts []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
