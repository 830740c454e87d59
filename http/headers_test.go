package http

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/matryer/is"

	"github.com/jobboard/jobboard/commands"

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
			// HEAD is GET without the body: the same route, the same rules.
			asGet := strings.Replace(op, http.MethodHead+" ", http.MethodGet+" ", 1)
			cases := map[string]string{"a bad token": "Bearer not.a.token"}
			if !publicRoutes[asGet] {
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

// TestMethodNotAllowedListsEveryMethod walks the route table: for every path,
// a method the path does not take is a 405 whose Allow field, in one line,
// names every method the path's routes take and no other. New routes are
// covered as they are added.
func TestMethodNotAllowedListsEveryMethod(t *testing.T) {
	s := NewServer(Deps{Logger: discardLogs})
	h := s.Handler()
	taken := map[string][]string{} // path template: methods
	err := s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, _ := route.GetPathTemplate()
		methods, _ := route.GetMethods()
		taken[tmpl] = append(taken[tmpl], methods...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(taken["/jobs"]) < 2 {
		t.Fatalf("/jobs takes %v, want GET and POST at least", taken["/jobs"])
	}
	for tmpl, methods := range taken {
		slices.Sort(methods)
		path := strings.ReplaceAll(tmpl, "{id}", "0190d6a4-7b1c-7c3e-9f00-123456789abc")
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
			http.MethodDelete, http.MethodOptions, http.MethodTrace} {
			if slices.Contains(methods, m) {
				continue
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(m, path, nil))
			if rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: %d, want 405", m, tmpl, rec.Code)
				continue
			}
			allow := rec.Header().Values("Allow")
			if want := strings.Join(methods, ", "); len(allow) != 1 || allow[0] != want {
				t.Errorf("%s %s: Allow %q, want one line %q", m, tmpl, allow, want)
			}
		}
	}
}

// TestParseIfMatch checks how If-Match values read. Job ETags are strong
// ("3") and If-Match compares strongly (RFC 9110, 13.1.1), so only the exact
// quoted version matches: anything else is a precondition no job meets
// (an empty list), never "no precondition" and never a 400. A list holds
// every version it names.
func TestParseIfMatch(t *testing.T) {
	var none commands.IfMatch   // no precondition
	never := commands.IfMatch{} // one no version meets
	v := func(vs ...int64) commands.IfMatch { return vs }
	for _, tt := range []struct {
		name   string
		values []string // the If-Match field lines; nil: no field
		want   commands.IfMatch
	}{
		{"absent", nil, none},
		{"any", []string{"*"}, none},
		{"any, padded", []string{" * "}, none},
		{"a version", []string{`"3"`}, v(3)},
		{"a version, padded", []string{` "3"  `}, v(3)},
		{"a large version", []string{`"9007199254740993"`}, v(9007199254740993)},
		{"another tag", []string{`"abc"`}, never},
		{"a weak tag", []string{`W/"3"`}, never},
		{"a lower-case weak tag", []string{`w/"3"`}, never},
		{"a leading zero", []string{`"03"`}, never},
		{"a sign", []string{`"+3"`}, never},
		{"version zero", []string{`"0"`}, never},
		{"a negative version", []string{`"-3"`}, never},
		{"out of range", []string{`"99999999999999999999"`}, never},
		{"unquoted", []string{"3"}, never},
		{"unterminated", []string{`"3`}, never},
		{"a space inside", []string{`"3 "`}, never},
		{"an empty tag", []string{`""`}, never},
		{"an empty field", []string{""}, never},
		{"only commas", []string{" , ,"}, never},
		{"junk after a tag", []string{`"3"x`}, never},
		{"any in a list", []string{`*, "3"`}, never},
		{"a list that holds it", []string{`"abc", W/"2", "3"`}, v(3)},
		{"a list with empty elements", []string{`, "3" ,`}, v(3)},
		{"a comma inside a tag", []string{`"a,b", "3"`}, v(3)},
		{"the same version twice", []string{`"3", "3"`}, v(3, 3)},
		{"two versions", []string{`"2", "3"`}, v(2, 3)},
		{"two field lines", []string{`"abc"`, `"3"`}, v(3)},
		{"a bad list", []string{`"3", abc`}, never},
	} {
		t.Run(tt.name, func(t *testing.T) {
			is := is.New(t)
			r := httptest.NewRequest(http.MethodPatch, "/jobs/x", nil)
			for _, v := range tt.values {
				r.Header.Add("If-Match", v)
			}
			got := parseIfMatch(r) // every If-Match is a precondition, met or not: never a 400
			if tt.want == nil {
				is.Equal(got, none) // no precondition
				return
			}
			is.True(got != nil)    // a precondition
			is.Equal(got, tt.want) // met by these versions

		})
	}
}
