package httpapi

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
)

type clientKey struct{}

// ClientAddr returns the address of the client of the request being
// served (see [ClientAddress]), or the zero Addr when unknown.
func ClientAddr(ctx context.Context) netip.Addr {
	a, _ := ctx.Value(clientKey{}).(netip.Addr)
	return a
}

// withClient puts the request's client address into its context.
func withClient(trusted []netip.Prefix, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), clientKey{}, ClientAddress(r, trusted))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ClientAddress returns the address of the request's client: the TCP peer,
// unless the peer is a trusted proxy (in one of the trusted prefixes). Then
// it is the right-most address of X-Forwarded-For that is not itself a
// trusted proxy: each proxy appends the address it was reached from, so
// the entries right of that one were written by trusted proxies, and those
// left of it by anyone. When every entry is trusted, the left-most is the
// client; an entry that is not an address ends the walk at the proxy that
// wrote it. The zero Addr means the peer is unknown.
func ClientAddress(r *http.Request, trusted []netip.Prefix) netip.Addr {
	client := parseAddr(r.RemoteAddr)
	if !client.IsValid() || !isTrusted(client, trusted) {
		return client
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := parseAddr(strings.TrimSpace(hops[i]))
		if !hop.IsValid() {
			return client
		}
		client = hop
		if !isTrusted(hop, trusted) {
			return hop
		}
	}
	return client
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseAddr reads an address as a peer or a proxy writes it: "192.0.2.1",
// "2001:db8::1", either with a port ("192.0.2.1:443", "[2001:db8::1]:443"),
// or an IPv6 one in brackets. IPv4-mapped IPv6 addresses are read as IPv4;
// zones are dropped. Anything else is the zero Addr.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone("")
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone("")
	}
	return netip.Addr{}
}
