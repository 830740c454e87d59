package http

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/matryer/is"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, remote string
		xff          []string
		trusted      []netip.Prefix
		want         string
	}{
		{"the peer, without trusted proxies", "203.0.113.7:4321", nil, nil, "203.0.113.7"},
		{"X-Forwarded-For is ignored without trusted proxies", "203.0.113.7:4321", []string{"198.51.100.1"}, nil, "203.0.113.7"},
		{"X-Forwarded-For is ignored from an untrusted peer", "203.0.113.7:4321", []string{"198.51.100.1"}, trusted, "203.0.113.7"},
		{"a trusted peer names the client", "10.1.2.3:80", []string{"198.51.100.1"}, trusted, "198.51.100.1"},
		{"the right-most untrusted hop, past trusted ones", "10.1.2.3:80", []string{"198.51.100.1, 192.168.1.1, 10.9.9.9"}, trusted, "198.51.100.1"},
		{"hops left of it are the client's own word", "10.1.2.3:80", []string{"1.1.1.1, 198.51.100.1"}, trusted, "198.51.100.1"},
		{"several header lines are one list", "10.1.2.3:80", []string{"1.1.1.1", "198.51.100.1, 10.0.0.2"}, trusted, "198.51.100.1"},
		{"a trusted peer without the header", "10.1.2.3:80", nil, trusted, "10.1.2.3"},
		{"trusted hops only: the left-most", "10.1.2.3:80", []string{"10.0.0.5, 10.0.0.6"}, trusted, "10.0.0.5"},
		{"garbage stops at the proxy that passed it", "10.1.2.3:80", []string{"198.51.100.1, unknown, 10.0.0.6"}, trusted, "10.0.0.6"},
		{"hops with ports", "10.1.2.3:80", []string{"198.51.100.1:5555"}, trusted, "198.51.100.1"},
		{"IPv6 hops, bracketed or not", "[fd00::1]:80", []string{"2001:db8::1, [2001:db8::2]:443"}, trusted, "2001:db8::2"},
		{"IPv4-mapped IPv6 is IPv4", "[::ffff:10.1.2.3]:80", []string{"::ffff:198.51.100.1"}, trusted, "198.51.100.1"},
		{"an odd RemoteAddr is kept as it is", "pipe", nil, trusted, "pipe"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddrOf(r, c.trusted); got != c.want {
				t.Fatalf("client of %s via %q = %q, want %q", c.remote, c.xff, got, c.want)
			}
		})
	}
}

// TestClientKey: per-client limits count an IPv6 client by its /64 and an
// IPv4 one (mapped into IPv6 or not) by its address.
func TestClientKey(t *testing.T) {
	for addr, want := range map[string]string{
		"203.0.113.7":                  "203.0.113.7",
		"::ffff:203.0.113.7":           "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":         "2001:db8:1:2::/64",
		"2001:db8:1:2::1":              "2001:db8:1:2::/64",
		"2001:db8:1:3::1":              "2001:db8:1:3::/64",
		"fe80::1%eth0":                 "fe80::/64",
		"::1":                          "::/64",
		"pipe":                         "pipe",
		"2001:0db8:0001:0002:ffff::ff": "2001:db8:1:2::/64",
	} {
		if got := clientKeyOf(addr); got != want {
			t.Errorf("clientKeyOf(%q) = %q, want %q", addr, got, want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8:9:9:abcd::1]:443"
	s := &Server{}
	if got := s.clientKey(r); got != "2001:db8:9:9::/64" {
		t.Fatalf("the key of a request from %s is %q", r.RemoteAddr, got)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	is := is.New(t)
	got, err := ParseTrustedProxies(" 10.1.2.3/8 ,, 192.168.1.1,::1, ::ffff:172.16.0.0/108")
	is.NoErr(err)
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.1/32"),
		netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("172.16.0.0/12"),
	}
	is.Equal(got, want) // CIDRs masked, bare addresses as one-address CIDRs, mapped IPv4 as IPv4
	for _, bad := range []string{"10.0.0.0/33", "localhost", "10.0.0.0/8,x"} {
		_, err := ParseTrustedProxies(bad)
		is.True(err != nil) // not a CIDR
	}
}

func TestParseCORSOrigins(t *testing.T) {
	is := is.New(t)
	got, err := ParseCORSOrigins("https://jobs.example.com, http://localhost:3000,")
	is.NoErr(err)
	is.Equal(got, []string{"https://jobs.example.com", "http://localhost:3000"})
	for _, bad := range []string{"*", "jobs.example.com", "https://jobs.example.com/", "https://jobs.example.com/app",
		"ftp://x.example.com", "https://user@x.example.com", "https://X.example.com", "https://x.example.com?"} {
		_, err := ParseCORSOrigins(bad)
		if err == nil {
			t.Errorf("%q was taken as an origin", bad)
		}
	}
}
