package clientaddr_test

import (
	"net/http/httptest"
	"testing"

	"github.com/jwtgate/jwtgate/clientaddr"
)

func TestResolver_Addr(t *testing.T) {
	proxies, err := clientaddr.ParsePrefixes("10.0.0.0/8, 192.0.2.1, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	trusting := clientaddr.Resolver{TrustedProxies: proxies}
	for _, tc := range []struct {
		name, remote string
		xff          []string
		res          clientaddr.Resolver
		want         string
	}{
		{"NoProxiesPeer", "198.51.100.7:4711", []string{"203.0.113.9"}, clientaddr.Resolver{}, "198.51.100.7"},
		{"UntrustedPeerIgnoresXFF", "198.51.100.7:4711", []string{"203.0.113.9"}, trusting, "198.51.100.7"},
		{"TrustedPeerUsesXFF", "10.1.2.3:4711", []string{"203.0.113.9"}, trusting, "203.0.113.9"},
		{"RightmostUntrusted", "10.1.2.3:1", []string{"6.6.6.6, 203.0.113.9, 192.0.2.1"}, trusting, "203.0.113.9"},
		{"SeveralHeaders", "10.1.2.3:1", []string{"6.6.6.6", "203.0.113.9"}, trusting, "203.0.113.9"},
		{"AllTrustedFallsBackToPeer", "10.1.2.3:1", []string{"10.9.9.9"}, trusting, "10.1.2.3"},
		{"MalformedChainNotTrusted", "10.1.2.3:1", []string{"not-an-ip"}, trusting, "10.1.2.3"},
		{"IPv6PeerAndMapped", "[2001:db8:ffff::1]:1", []string{"::ffff:203.0.113.9"}, trusting, "203.0.113.9"},
		{"IPv6Untrusted", "[2001:db8:1::1]:1", []string{"203.0.113.9"}, trusting, "2001:db8:1::1"},
		{"ZoneStripped", "[fe80::1%eth0]:1", nil, clientaddr.Resolver{}, "fe80::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tc.res.Addr(r); got != tc.want {
				t.Fatalf("Addr = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParsePrefixes_Err(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "nope", "1.2.3.4/x"} {
		if _, err := clientaddr.ParsePrefixes(s); err == nil {
			t.Errorf("ParsePrefixes(%q) accepted", s)
		}
	}
	if p, err := clientaddr.ParsePrefixes(" , "); err != nil || len(p) != 0 {
		t.Errorf("empty list: %v %v", p, err)
	}
}
