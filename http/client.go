package http

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddrOf is the address a request came from, as the log shows it
// (clientKeyOf turns it into the key of the per-client limits): the TCP
// peer, unless the peer is one of the trusted proxies, in which case
// X-Forwarded-For is read from the right (the hop the nearest proxy added)
// leftwards, past every trusted hop, to the first one that is not trusted.
// Hops left of that one were written by the client itself and prove
// nothing. A hop that is not an address ends the walk at the proxy that
// passed it on; a chain of trusted hops only is keyed by its left-most one.
func clientAddrOf(r *http.Request, trusted []netip.Prefix) string {
	peer, ok := parseHop(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		entries := strings.Split(hops[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			hop, ok := parseHop(entries[j])
			if !ok {
				return client.String()
			}
			if !isTrusted(hop, trusted) {
				return hop.String()
			}
			client = hop
		}
	}
	return client.String()
}

// clientKeyOf is what every per-client limit counts a client address as:
// an IPv4 address is itself, an IPv6 address its /64, the least that one
// host (one subscriber's network) is given, so that a client cannot start
// afresh from each of its 2^64 addresses. Anything else is kept as it is.
func clientKeyOf(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	if a = a.Unmap().WithZone(""); a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}

// parseHop reads an address as RemoteAddr or X-Forwarded-For give it:
// bare or with a port, IPv6 in brackets or not. IPv4-mapped IPv6 addresses
// are taken as the IPv4 ones, and zones are dropped, so that one client has
// one key.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap().WithZone(""), true
}

func isTrusted(addr netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ParseTrustedProxies reads a comma-separated list of CIDRs (a bare address
// is a one-address CIDR), as the TRUSTED_PROXIES setting gives it.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !strings.Contains(item, "/") {
			addr, err := netip.ParseAddr(item)
			if err != nil {
				return nil, err
			}
			addr = addr.Unmap()
			prefixes = append(prefixes, netip.PrefixFrom(addr, addr.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(item)
		if err != nil {
			return nil, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		prefixes = append(prefixes, p.Masked())
	}
	return prefixes, nil
}
