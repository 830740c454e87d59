package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// UserAgent is what the board calls itself in every delivery.
const UserAgent = "jobboard-webhooks/1"

// Headers of a delivery.
const (
	HeaderEvent     = "Jobboard-Event"
	HeaderDelivery  = "Jobboard-Delivery"
	HeaderSignature = "Jobboard-Signature"
)

// Signature is the Jobboard-Signature of body sent at t:
// t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">, keyed with the
// secret's text (its 64 hex characters, as bytes, not the 32 bytes they
// encode: what the recruiter copies is what they key their check with).
func Signature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// nonPublic are the ranges, beyond what netip.Addr's own predicates tell
// (loopback, private, link-local, multicast, unspecified), that no webhook
// may reach: they are this network, shared or reserved space, or IPv6
// forms that carry an IPv4 address inside them (and could carry a private
// one).
var nonPublic = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",          // "this network"
		"100.64.0.0/10",      // carrier-grade NAT (shared address space)
		"192.0.0.0/24",       // IETF protocol assignments
		"192.0.2.0/24",       // documentation (TEST-NET-1)
		"198.18.0.0/15",      // benchmarking
		"198.51.100.0/24",    // documentation (TEST-NET-2)
		"203.0.113.0/24",     // documentation (TEST-NET-3)
		"240.0.0.0/4",        // reserved, and the broadcast address
		"::/96",              // IPv4-compatible IPv6 (deprecated)
		"64:ff9b::/96",       // NAT64: an IPv4 address behind a translator
		"64:ff9b:1::/48",     // local-use NAT64
		"100::/64",           // discard-only
		"2001::/32",          // Teredo
		"2001:db8::/32",      // documentation
		"2002::/16",          // 6to4
		"fec0::/10",          // site-local (deprecated)
		"::ffff:0:0:0/96",    // IPv4-translated
		"2001:20::/28",       // ORCHIDv2
		"3fff::/20",          // documentation
		"5f00::/16",          // segment routing SIDs
		"fc00::/7",           // unique local (IsPrivate too; listed for the reader)
		"ff00::/8",           // multicast (IsMulticast too)
		"169.254.0.0/16",     // link-local (IsLinkLocalUnicast too)
		"255.255.255.255/32", // broadcast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// PublicAddr reports whether a webhook may connect to ip: not loopback,
// private, link-local, multicast, unspecified, carrier-grade NAT, reserved
// or documentation space, nor an IPv6 form of an IPv4 address that is
// (IPv4-mapped addresses are judged as the IPv4 address they map).
func PublicAddr(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// RefusedAddressError is a connection the dialer would not make: the name
// resolved to an address that is not public.
type RefusedAddressError struct {
	Addr netip.Addr
}

func (e *RefusedAddressError) Error() string {
	return fmt.Sprintf("refused to connect to %s: not a public address", e.Addr)
}

// Dialer returns the dialer deliveries connect with. Its Control runs for
// every address it connects to, after DNS, and refuses those that are not
// public unless allowPrivate: checking the URL when it was saved is not
// enough, since its name may resolve elsewhere by the time it is called
// (or resolve to a public address once and to a private one the next time).
func Dialer(allowPrivate bool, timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		d.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("refused to connect to %q: not an IP address and port", address)
			}
			if !PublicAddr(ap.Addr()) {
				return &RefusedAddressError{Addr: ap.Addr()}
			}
			return nil
		}
	}
	return d
}

// maxResponseBody is how much of a receiver's answer is read: enough to
// keep the connection for the next delivery, never a receiver's whole
// download.
const maxResponseBody = 64 << 10

// sender posts deliveries.
type sender struct {
	client  *http.Client
	timeout time.Duration
}

// newSender returns a sender whose attempts each take at most timeout,
// from connecting to the end of the answer's headers and body.
func newSender(allowPrivate bool, timeout time.Duration) *sender {
	dialer := Dialer(allowPrivate, timeout)
	transport := &http.Transport{
		// Never a proxy from the environment: the connection would go to
		// the proxy, whose address the dialer's check would see instead of
		// the receiver's.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &sender{
		timeout: timeout,
		client: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// A redirect is not followed: it could lead anywhere, another
			// scheme or an internal address included, and a receiver that
			// moved is told so by its failures. The 3xx is the answer, and
			// a failure.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// post is one delivery as sent.
type post struct {
	id        uuid.UUID
	url       string
	eventType string
	secret    string
	body      []byte
}

// send makes one attempt at p. It returns the answer's status code (0 when
// there was none) and, unless the answer was a 2xx, why it failed: an
// *attemptError, which says it in full to the operator and in general
// terms to the recruiter.
func (s *sender) send(ctx context.Context, p post) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(p.body))
	if err != nil {
		return 0, &attemptError{public: "the subscription's URL cannot be requested",
			err: fmt.Errorf("the subscription's URL cannot be requested: %w", err)}
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", UserAgent)
	h.Set(HeaderEvent, p.eventType)
	h.Set(HeaderDelivery, p.id.String())
	h.Set(HeaderSignature, Signature(p.secret, time.Now(), p.body))
	res, err := s.client.Do(req)
	if err != nil {
		return 0, s.explain(err)
	}
	defer res.Body.Close()
	// Read (some of) the answer so that the connection can carry the
	// next delivery; a body that drags on past the time limit changes
	// nothing: the status said what the receiver made of the delivery.
	io.Copy(io.Discard, io.LimitReader(res.Body, maxResponseBody)) //nolint:errcheck // see above
	// The recruiter is told the code with its standard text; the status
	// line and Location as the receiver wrote them are the operator's
	// (they are the receiver's words, of any length and content).
	code := res.StatusCode
	answered := strings.TrimSpace(fmt.Sprintf("answered %d %s", code, http.StatusText(code)))
	switch {
	case code >= 300 && code < 400:
		return code, &attemptError{
			public: answered + ", a redirect, which is not followed",
			err: fmt.Errorf("answered %s, a redirect (to %q), which is not followed",
				cleanText(res.Status, 100), cleanText(res.Header.Get("Location"), 300)),
		}
	case code < 200 || code >= 300:
		return code, &attemptError{public: answered, err: fmt.Errorf("answered %s", cleanText(res.Status, 100))}
	}
	return code, nil
}

// attemptError is why an attempt failed, told twice. Error is the detail,
// for the operator (webhook_attempts.error, the logs): the address refused,
// the resolver's message, the receiver's own words. public is what the
// recruiter is shown (the delivery's last_error, through the API and the
// CLI): what went wrong, in terms that reveal nothing of the board's
// network, its resolver or the addresses a name led to.
type attemptError struct {
	public string
	err    error
}

func (e *attemptError) Error() string { return e.err.Error() }
func (e *attemptError) Unwrap() error { return e.err }

// publicReason is what the recruiter is told of err.
func publicReason(err error) string {
	var ae *attemptError
	if errors.As(err, &ae) {
		return ae.public
	}
	return "the delivery could not be made"
}

// explain turns a failed request into an attemptError: its detail without
// the URL (which the delivery's subscription shows) and without Go's
// wrapping, and a general sentence for the recruiter.
func (s *sender) explain(err error) *attemptError {
	var refused *RefusedAddressError
	if errors.As(err, &refused) {
		return &attemptError{public: "refused: the host's address is not a public one", err: refused}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	public := "the connection failed"
	var dns *net.DNSError
	var ne net.Error
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var badCert x509.CertificateInvalidError
	var header tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	// Before the time limit: a lookup that timed out is the name's fault
	// as the recruiter sees it.
	case errors.As(err, &dns):
		public = "the host name could not be resolved"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		msg := fmt.Sprintf("no answer within %s", s.timeout)
		return &attemptError{public: msg, err: errors.New(msg)}
	case errors.Is(err, syscall.ECONNREFUSED):
		public = "the connection was refused"
	case errors.Is(err, syscall.ENETUNREACH) || errors.Is(err, syscall.EHOSTUNREACH):
		public = "the host could not be reached"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		public = "the connection was closed before an answer"
	case errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &badHost) || errors.As(err, &badCert):
		public = "the host's TLS certificate was not accepted"
	case errors.As(err, &header) || errors.As(err, &alert):
		public = "the TLS handshake failed"
	}
	return &attemptError{public: public, err: err}
}

// maxErrorText bounds the error text kept of an attempt, in bytes: part
// of it is the receiver's (its status line, its Location header), which
// may be of any length.
const maxErrorText = 500

// clip cuts s to maxErrorText bytes of valid UTF-8, marking a cut with
// "…".
func clip(s string) string { return cleanText(s, maxErrorText) }

// cleanText is s as valid UTF-8, without control characters, and cut to
// at most max bytes (the last three of them "…" when it had to be cut),
// at a character's boundary.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= max {
		return s
	}
	const mark = "…"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
