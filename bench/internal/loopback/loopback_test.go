package loopback

import (
	"net/url"
	"testing"
)

func TestOnlyThisMachine(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:80", "[::1]:5432", "127.5.6.7:1"} {
		if err := Control("tcp", ok, nil); err != nil {
			t.Errorf("Control(%s): %v", ok, err)
		}
	}
	for _, bad := range []string{"10.0.0.1:80", "93.184.216.34:443", "[2001:db8::1]:80", "nohost"} {
		if Control("tcp", bad, nil) == nil {
			t.Errorf("Control(%s) let it through", bad)
		}
	}
	for _, ok := range []string{"http://127.0.0.1:8080", "http://localhost:8080/x"} {
		u, _ := url.Parse(ok)
		if err := CheckHTTP(u); err != nil {
			t.Errorf("CheckHTTP(%s): %v", ok, err)
		}
	}
	for _, bad := range []string{"https://127.0.0.1", "http://example.com", "http://10.1.1.1:80"} {
		u, _ := url.Parse(bad)
		if CheckHTTP(u) == nil {
			t.Errorf("CheckHTTP(%s) let it through", bad)
		}
	}
	for _, ok := range []string{"postgres://postgres@127.0.0.1:5432/x", "postgresql://localhost/x"} {
		if err := CheckPostgres(ok); err != nil {
			t.Errorf("CheckPostgres(%s): %v", ok, err)
		}
	}
	for _, bad := range []string{"postgres://db.example.com/x", "mysql://127.0.0.1/x", "::"} {
		if CheckPostgres(bad) == nil {
			t.Errorf("CheckPostgres(%s) let it through", bad)
		}
	}
}
