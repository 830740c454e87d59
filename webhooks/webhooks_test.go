package webhooks_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/auth"
	"github.com/jobboard/jobboard/domain"
	"github.com/jobboard/jobboard/webhooks"
)

func TestPublicAddr(t *testing.T) {
	for addr, public := range map[string]bool{
		"8.8.8.8":              true,
		"1.1.1.1":              true,
		"93.184.215.14":        true,
		"2606:4700:4700::1111": true,
		"2a00:1450:4001::200e": true,
		"127.0.0.1":            false, // loopback
		"127.8.9.10":           false,
		"::1":                  false,
		"10.1.2.3":             false, // private
		"172.16.0.1":           false,
		"172.31.255.255":       false,
		"192.168.1.1":          false,
		"fd00::1":              false, // unique local
		"169.254.169.254":      false, // link-local: cloud metadata
		"fe80::1":              false,
		"0.0.0.0":              false, // unspecified
		"::":                   false,
		"0.1.2.3":              false, // this network
		"100.64.0.1":           false, // carrier-grade NAT
		"100.127.255.254":      false,
		"224.0.0.1":            false, // multicast
		"ff02::1":              false,
		"255.255.255.255":      false, // broadcast
		"240.0.0.1":            false, // reserved
		"192.0.2.1":            false, // documentation
		"198.18.0.1":           false, // benchmarking
		"::ffff:127.0.0.1":     false, // IPv4-mapped forms judged as the IPv4 address
		"::ffff:10.0.0.1":      false,
		"::ffff:169.254.1.1":   false,
		"::ffff:8.8.8.8":       true,
		"::127.0.0.1":          false, // IPv4-compatible (deprecated)
		"64:ff9b::a00:1":       false, // NAT64 of 10.0.0.1
		"2002:7f00:1::":        false, // 6to4 of 127.0.0.1
		"2001:0:4136:e378::1":  false, // Teredo
		"fec0::1":              false, // site-local
	} {
		if got := webhooks.PublicAddr(netip.MustParseAddr(addr)); got != public {
			t.Errorf("PublicAddr(%s) = %v, want %v", addr, got, public)
		}
	}
}

// TestDialerChecksWhenConnecting: the check runs on the address actually
// connected to, whatever the name said.
func TestDialerChecksWhenConnecting(t *testing.T) {
	is := is.New(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	is.NoErr(err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, err = webhooks.Dialer(false, time.Second).DialContext(ctx, "tcp", net.JoinHostPort(host, port))
		var refused *webhooks.RefusedAddressError
		is.True(errors.As(err, &refused)) // refused, by name or by address
		is.True(refused.Addr.IsLoopback())
	}
	c, err := webhooks.Dialer(true, time.Second).DialContext(ctx, "tcp", ln.Addr().String())
	is.NoErr(err) // allowed when private addresses are
	c.Close()
}

func TestCheckSubscription(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", 2000)
	tests := []struct {
		url          string
		events       []string
		allowPrivate bool
		field        string // "" when valid
		message      string
	}{
		{url: "https://hooks.example.com/jobboard", events: []string{"job.posted"}},
		{url: "https://hooks.example.com:8443/x?y=z", events: webhooks.EventNames},
		{url: "https://8.8.8.8/hook", events: []string{"job.posted"}},
		{url: "", events: []string{"job.posted"}, field: "url", message: "is required"},
		{url: "http://hooks.example.com/", events: []string{"job.posted"}, field: "url", message: "https://"},
		{url: "http://hooks.example.com/", events: []string{"job.posted"}, allowPrivate: true},
		{url: "http://127.0.0.1:9999/", events: []string{"job.posted"}, allowPrivate: true},
		{url: "ftp://hooks.example.com/", events: []string{"job.posted"}, field: "url", message: "absolute"},
		{url: "/relative/path", events: []string{"job.posted"}, field: "url", message: "absolute"},
		{url: "https://", events: []string{"job.posted"}, field: "url", message: "host"},
		{url: "https://user:pw@hooks.example.com/", events: []string{"job.posted"}, field: "url", message: "user name"},
		{url: long, events: []string{"job.posted"}, field: "url", message: "2000"},
		{url: "https://127.0.0.1/hook", events: []string{"job.posted"}, field: "url", message: "public"},
		{url: "https://[::1]/hook", events: []string{"job.posted"}, field: "url", message: "public"},
		{url: "https://[::ffff:10.0.0.1]/hook", events: []string{"job.posted"}, field: "url", message: "public"},
		{url: "https://localhost/hook", events: []string{"job.posted"}, field: "url", message: "public"},
		{url: "https://api.localhost./hook", events: []string{"job.posted"}, field: "url", message: "public"},
		{url: "https://169.254.169.254/latest", events: []string{"job.posted"}, field: "url", message: "public"},
		{url: "https://hooks.example.com/", events: nil, field: "events", message: "at least one"},
		{url: "https://hooks.example.com/", events: []string{}, field: "events", message: "at least one"},
		{url: "https://hooks.example.com/", events: []string{"job.posted", "job.exploded"}, field: "events", message: "job.exploded"},
		{url: "https://hooks.example.com/", events: []string{"job.posted", "job.posted"}, field: "events", message: "twice"},
		{url: "https://hooks.example.com/", events: []string{"JobPosted"}, field: "events", message: "not an event"},
	}
	for _, tt := range tests {
		u := tt.url
		err := webhooks.CheckSubscription(&u, tt.events, tt.allowPrivate)
		if tt.field == "" {
			if err != nil {
				t.Errorf("%q %v: %v, want valid", tt.url, tt.events, err)
			}
			continue
		}
		var de *domain.Error
		if !errors.As(err, &de) || de.Kind != domain.KindInvalid || len(de.Fields) != 1 {
			t.Errorf("%q %v: %v, want one invalid field", tt.url, tt.events, err)
			continue
		}
		if f := de.Fields[0]; f.Field != tt.field || !strings.Contains(f.Message, tt.message) {
			t.Errorf("%q %v: %s %q, want %s mentioning %q", tt.url, tt.events, f.Field, f.Message, tt.field, tt.message)
		}
	}
	err := webhooks.CheckSubscription(nil, nil, false)
	var de *domain.Error
	if !errors.As(err, &de) || len(de.Fields) != 2 {
		t.Errorf("no url and no events: %v, want both fields named", err)
	}
}

func TestParseSchedule(t *testing.T) {
	is := is.New(t)
	s, err := webhooks.ParseSchedule("1m,5m,30m,2h,6h,12h")
	is.NoErr(err)
	is.Equal(s, webhooks.DefaultRetrySchedule) // the default, spelt out
	s, err = webhooks.ParseSchedule(" 10ms, 20ms ")
	is.NoErr(err)
	is.Equal(s, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond})
	is.Equal(webhooks.FormatSchedule(s), "10ms,20ms")
	for _, bad := range []string{"", "1m,,5m", "5", "-1s", "0s", "1m,soon", strings.Repeat("1s,", 100) + "1s"} {
		_, err := webhooks.ParseSchedule(bad)
		is.True(err != nil) // refused
	}
}

func TestSignature(t *testing.T) {
	is := is.New(t)
	secret := strings.Repeat("ab", 32)
	body := []byte(`{"id":"x"}`)
	at := time.Unix(1_800_000_000, 0)
	sig := webhooks.Signature(secret, at, body)
	is.True(strings.HasPrefix(sig, "t=1800000000,v1=")) // t first, in unix seconds
	is.NoErr(verifySignature(secret, sig, body, at))    // what a receiver's own check accepts
	is.True(verifySignature(secret, sig, []byte(`{"id":"y"}`), at) != nil)
	is.True(verifySignature(strings.Repeat("cd", 32), sig, body, at) != nil)
	is.True(sig != webhooks.Signature(secret, at.Add(time.Second), body)) // each attempt signs its own time
}

func TestOnlyRecruitersSubscribe(t *testing.T) {
	is := is.New(t)
	store := webhooks.NewStore(db.Pool, false)
	url := "https://hooks.example.com/"
	_, err := store.Create(t.Context(), auth.Caller{UserID: uuid.New(), Role: domain.RoleJobSeeker}, &url, []string{"job.posted"})
	is.Equal(domain.KindOf(err), domain.KindForbidden)

	owner := uuid.New()
	sub, err := store.Create(t.Context(), auth.Caller{UserID: owner, Role: domain.RoleRecruiter}, &url, []string{"job.posted"})
	is.NoErr(err)
	_, err = store.Get(t.Context(), uuid.New(), sub.ID)
	is.Equal(domain.KindOf(err), domain.KindNotFound) // another's: not found
	got, err := store.Get(t.Context(), owner, sub.ID)
	is.NoErr(err)
	is.Equal(got.Secret, "") // the secret is not read back
	is.Equal(got.URL, url)
}

// TestSubscriptionLimitsHoldUnderConcurrency: requests at once can neither
// take one recruiter past MaxSubscriptions nor add one URL twice.
func TestSubscriptionLimitsHoldUnderConcurrency(t *testing.T) {
	is := is.New(t)
	store := webhooks.NewStore(db.Pool, false)
	// createAll makes the subscriptions of urls at once for a new
	// recruiter, and says how many were made; every refusal must be a
	// conflict.
	createAll := func(urls []string) int {
		caller := auth.Caller{UserID: uuid.New(), Role: domain.RoleRecruiter}
		results := make(chan error, len(urls))
		var wg sync.WaitGroup
		for _, url := range urls {
			wg.Go(func() {
				_, err := store.Create(t.Context(), caller, &url, []string{"job.posted"})
				results <- err
			})
		}
		wg.Wait()
		close(results)
		made := 0
		for err := range results {
			if err == nil {
				made++
				continue
			}
			is.Equal(domain.KindOf(err), domain.KindConflict) // the others are conflicts
		}
		subs, err := store.List(t.Context(), caller.UserID)
		is.NoErr(err)
		is.Equal(len(subs), made) // as many as were said made
		return made
	}
	var distinct, same []string
	for i := range 2 * webhooks.MaxSubscriptions {
		distinct = append(distinct, fmt.Sprintf("https://hooks.example.com/%d", i))
		same = append(same, "https://hooks.example.com/same")
	}
	is.Equal(createAll(distinct), webhooks.MaxSubscriptions) // no more than the limit
	is.Equal(createAll(same), 1)                             // one per URL
}
