package http

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/matryer/is"
	"gopkg.in/yaml.v3"
)

// discardLogs is the logger of the servers these tests make: they check
// answers, not logs.
var discardLogs = slog.New(slog.DiscardHandler)

// openAPIOperations lists the operations of the embedded OpenAPI document
// as "METHOD /path/{template}".
func openAPIOperations(t *testing.T) []string {
	t.Helper()
	var doc struct {
		OpenAPI string                          `yaml:"openapi"`
		Paths   map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("http/openapi.yaml is not valid YAML: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("http/openapi.yaml is OpenAPI %q, want 3.1.x", doc.OpenAPI)
	}
	var ops []string
	for path, item := range doc.Paths {
		for key := range item {
			switch key {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				ops = append(ops, strings.ToUpper(key)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

// muxVariablePattern is the ":pattern" part of a mux path variable, which
// OpenAPI's path templates do not have.
var muxVariablePattern = regexp.MustCompile(`\{([^{}:]+):[^{}]*\}`)

// routedOperations lists the routes of the server's router as
// "METHOD /path/{template}".
func routedOperations(t *testing.T, s *Server) []string {
	t.Helper()
	var ops []string
	err := s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			t.Errorf("a route has no path template: %v", err)
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s accepts any method: give it .Methods(…) so that it can be documented", path)
			return nil
		}
		path = muxVariablePattern.ReplaceAllString(path, "{$1}")
		for _, m := range methods {
			ops = append(ops, m+" "+path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk the router: %v", err)
	}
	slices.Sort(ops)
	return ops
}

// TestOpenAPIDescribesEveryRoute holds http/openapi.yaml and the route table
// to each other: every route the router serves is described, and every
// described operation is served.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	documented := openAPIOperations(t)
	routed := routedOperations(t, NewServer(Deps{Logger: discardLogs}))
	if len(routed) == 0 {
		t.Fatal("the router has no routes")
	}
	for _, op := range routed {
		// HEAD is served wherever GET is, as GET without the body (RFC
		// 9110, 9.3.2); the document says so once rather than per path.
		if get, ok := strings.CutPrefix(op, "HEAD "); ok && slices.Contains(documented, "GET "+get) {
			continue
		}
		if !slices.Contains(documented, op) {
			t.Errorf("%s is routed (http/server.go) but not described in http/openapi.yaml", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(routed, op) {
			t.Errorf("%s is described in http/openapi.yaml but not routed (http/server.go)", op)
		}
	}
	for i := 1; i < len(routed); i++ {
		if routed[i] == routed[i-1] {
			t.Errorf("%s is routed twice", routed[i])
		}
	}
}

// serveGet sends a GET through the whole handler, middleware included.
func serveGet(t *testing.T, h http.Handler, path string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestOpenAPIDocumentIsServed(t *testing.T) {
	is := is.New(t)
	h := NewServer(Deps{Logger: discardLogs}).Handler()

	res := serveGet(t, h, "/openapi.yaml")
	body, _ := io.ReadAll(res.Body)
	is.Equal(res.StatusCode, http.StatusOK)                                     // GET /openapi.yaml
	is.Equal(res.Header.Get("Content-Type"), "application/yaml; charset=utf-8") // served as YAML
	is.Equal(string(body), string(openAPIDocument))                             // the embedded document, whole
	is.True(res.Header.Get("X-Request-Id") != "")                               // like every answer
	etag := res.Header.Get("ETag")
	is.True(etag != "") // an ETag, for revalidation

	res = serveGet(t, h, "/openapi.yaml", "If-None-Match", etag)
	is.Equal(res.StatusCode, http.StatusNotModified) // the same ETag: not sent again
}

func TestDocsPageLoadsRedocFromThisServer(t *testing.T) {
	is := is.New(t)
	h := NewServer(Deps{Logger: discardLogs}).Handler()

	res := serveGet(t, h, "/docs")
	page, _ := io.ReadAll(res.Body)
	is.Equal(res.StatusCode, http.StatusOK)                              // GET /docs
	is.Equal(res.Header.Get("Content-Type"), "text/html; charset=utf-8") // a page
	is.True(strings.Contains(string(page), `spec-url="/openapi.yaml"`))  // renders the served document
	is.True(strings.Contains(string(page), `src="/docs/redoc.standalone.js"`))
	is.True(!strings.Contains(string(page), "https://")) // no CDN
	csp := res.Header.Get("Content-Security-Policy")
	is.True(strings.Contains(csp, "script-src 'self'"))  // scripts from this server only
	is.True(strings.Contains(csp, "connect-src 'self'")) // and no telemetry

	res = serveGet(t, h, "/docs/redoc.standalone.js")
	script, _ := io.ReadAll(res.Body)
	is.Equal(res.StatusCode, http.StatusOK)                                    // the script the page loads
	is.Equal(res.Header.Get("Content-Type"), "text/javascript; charset=utf-8") // as JavaScript
	is.Equal(len(script), len(redocScript))                                    // whole
	is.True(strings.Contains(string(script[:200]), "@license MIT"))            // Redoc, with its licence
}
