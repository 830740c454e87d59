package http

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CORS answers, for the origins allowed to call the API from a browser.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE"
	corsAllowHeaders  = "Authorization, Content-Type, If-Match, X-Request-Id"
	corsExposeHeaders = "ETag, Location, Retry-After, X-Request-Id, Content-Disposition"
	corsMaxAge        = 10 * time.Minute
)

// cors lets the configured origins call the API from a browser. It sits in
// front of the router, so that a preflight (OPTIONS with
// Access-Control-Request-Method) from an allowed origin is answered 204 here
// and the route table, which has no OPTIONS routes, stays as it is: any
// other OPTIONS, and every request from another origin, goes on without
// CORS headers (an OPTIONS then gets the router's 405). With no origins
// configured, CORS is off and nothing changes.
func (s *Server) cors(next http.Handler) http.Handler {
	if len(s.CORSOrigins) == 0 {
		return next
	}
	allowed := make(map[string]bool, len(s.CORSOrigins))
	for _, o := range s.CORSOrigins {
		allowed[o] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// The answer depends on Origin whether or not it is allowed, so
		// caches must keep one per origin.
		h.Add("Vary", "Origin")
		origin := r.Header.Get("Origin")
		if origin == "" || !allowed[origin] {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge.Seconds())))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
		next.ServeHTTP(w, r)
	})
}

// ParseCORSOrigins reads a comma-separated list of origins, as the
// CORS_ALLOWED_ORIGINS setting gives it. Each must be an exact origin,
// scheme://host[:port] with nothing after it, as browsers send it in the
// Origin header; a wildcard is refused.
func ParseCORSOrigins(s string) ([]string, error) {
	var origins []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		u, err := url.Parse(item)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
			strings.HasSuffix(item, "?") || strings.HasSuffix(item, "#") {
			return nil, fmt.Errorf("%q is not an origin: want scheme://host[:port], such as https://jobs.example.com", item)
		}
		if item != strings.ToLower(item) {
			return nil, fmt.Errorf("%q: write the origin in lower case, as browsers send it", item)
		}
		origins = append(origins, item)
	}
	return origins, nil
}
