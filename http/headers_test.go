package http

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/jobboard/jobboard/auth"
)

// publicRoutes serve callers without a token; every other route needs one.
var publicRoutes = map[string]bool{
	"POST /register": true, "POST /login": true, "GET /jobs": true, "GET /jobs/{id}": true,
	"GET /healthz": true, "GET /readyz": true, "GET /metrics": true,
	"GET /openapi.yaml": true, "GET /docs": true, "GET /docs/redoc.standalone.js": true,
}

// TestRefusalsAreNotStored walks the route table: every route that needs a
// token answers a request without one, or with a bad one, with a 401 that
// no cache may store; and a public route that is sent a bad token does the
// same. New routes are covered as they are added.
func TestRefusalsAreNotStored(t *testing.T) {
	s := NewServer(Deps{Logger: discardLogs, Tokens: auth.NewTokens([]byte("headers test secret, 32 bytes long!"), "jobboard", time.Hour)})
	h := s.Handler()
	authenticated := 0
	err := s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, _ := route.GetPathTemplate()
		methods, _ := route.GetMethods()
		path := strings.ReplaceAll(tmpl, "{id}", "0190d6a4-7b1c-7c3e-9f00-123456789abc")
		for _, m := range methods {
			op := m + " " + tmpl
			cases := map[string]string{"a bad token": "Bearer not.a.token"}
			if !publicRoutes[op] {
				authenticated++
				cases["no token"] = ""
			} else if m != http.MethodGet || !strings.HasPrefix(tmpl, "/jobs") {
				continue // public routes that take no token at all
			}
			for name, header := range cases {
				req := httptest.NewRequest(m, path, strings.NewReader("{}"))
				req.Header.Set("Content-Type", "application/json")
				if header != "" {
					req.Header.Set("Authorization", header)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				res := rec.Result()
				if res.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s with %s: %d, want 401", op, name, res.StatusCode)
				}
				if got := res.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("%s with %s: Cache-Control %q, want no-store", op, name, got)
				}
				if res.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s with %s: no WWW-Authenticate", op, name)
				}
				for _, want := range []string{"X-Content-Type-Options: nosniff", "Referrer-Policy: no-referrer"} {
					k, v, _ := strings.Cut(want, ": ")
					if res.Header.Get(k) != v {
						t.Errorf("%s with %s: %s %q, want %q", op, name, k, res.Header.Get(k), v)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if authenticated < 10 {
		t.Fatalf("only %d authenticated routes found", authenticated)
	}
}
