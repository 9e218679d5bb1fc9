// Package clientaddr finds the network address of an HTTP caller, trusting
// X-Forwarded-For only from configured proxies.
package clientaddr

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver returns the caller's address for throttling and usage records.
type Resolver struct {
	// TrustedProxies are the peers whose X-Forwarded-For is believed. Empty
	// means the TCP peer is the client.
	TrustedProxies []netip.Prefix
}

// ParsePrefixes parses a comma-separated list of addresses or CIDR ranges.
func ParsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Addr returns the client address of r: the TCP peer, or, when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry that is not one.
func (res Resolver) Addr(r *http.Request) string {
	peer := hostOnly(r.RemoteAddr)
	a, err := netip.ParseAddr(peer)
	if err != nil || !res.trusted(a) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a malformed chain is not trusted
		}
		if !res.trusted(h) {
			return h.Unmap().String()
		}
	}
	return peer
}

func (res Resolver) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range res.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func hostOnly(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return host
}
