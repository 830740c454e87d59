// Package loopback keeps the benchmark tools on this machine: they send
// load and write benchmark rows, and must never be pointed at anything
// else, whatever a host name resolves to.
package loopback

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// Control is a net.Dialer's Control: it refuses to connect to anything but
// a loopback address, after name resolution.
func Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing to connect to %s: not a loopback address", address)
	}
	return nil
}

// CheckHost accepts localhost, a loopback IP, or a Unix socket directory (a
// path, for PostgreSQL).
func CheckHost(host string) error {
	if host == "localhost" || strings.HasPrefix(host, "/") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("the host %q is not a loopback address (127.0.0.1, ::1 or localhost)", host)
}

// CheckHTTP accepts an http:// URL on a loopback host.
func CheckHTTP(u *url.URL) error {
	if u.Scheme != "http" {
		return fmt.Errorf("%s: only http:// on a loopback address", u)
	}
	if err := CheckHost(u.Hostname()); err != nil || strings.HasPrefix(u.Hostname(), "/") {
		return fmt.Errorf("%s: the host must be a loopback address (127.0.0.1, ::1 or localhost)", u)
	}
	return nil
}

// CheckPostgres accepts a postgres:// URL whose host is on this machine.
func CheckPostgres(dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("want a postgres:// URL, got %q", dsn)
	}
	return CheckHost(u.Hostname())
}
