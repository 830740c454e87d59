package http

import (
	"context"
	"net/http"
	"time"

	"github.com/jobboard/jobboard/domain"
)

// handleHealthz handles the "GET /healthz" route: the process is running.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	ok(w, map[string]string{"status": "ok"})
}

// handleReadyz handles the "GET /readyz" route: the database answers and
// the projections are caught up.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Ready(ctx); err != nil {
		w.Header().Set("Retry-After", "5")
		writeError(w, r, s.Logger, &domain.Error{Kind: domain.KindUnavailable, Message: "not ready: " + err.Error(), Err: err})
		return
	}
	ok(w, map[string]string{"status": "ready"})
}
