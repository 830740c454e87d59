package http

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/jobboard/jobboard/webhooks"
)

// webhookJSON is a webhook subscription as the API shows it. Secret is
// only in the answer that made it.
type webhookJSON struct {
	ID        uuid.UUID `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	Secret    string    `json:"secret,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func newWebhookJSON(sub webhooks.Subscription) webhookJSON {
	return webhookJSON{ID: sub.ID, URL: sub.URL, Events: sub.Events, Secret: sub.Secret, CreatedAt: sub.CreatedAt.UTC().Truncate(time.Second)}
}

// webhookDeliveryJSON is one delivery of a subscription.
type webhookDeliveryJSON struct {
	ID             uuid.UUID  `json:"id"`
	EventType      string     `json:"event_type"`
	EventID        uuid.UUID  `json:"event_id"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      *string    `json:"last_error"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
	CreatedAt      time.Time  `json:"created_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
}

func newWebhookDeliveryJSON(d webhooks.Delivery) webhookDeliveryJSON {
	apiTime := func(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }
	out := webhookDeliveryJSON{
		ID: d.ID, EventType: d.EventType, EventID: d.EventID, Status: string(d.Status), Attempts: d.Attempts,
		LastStatusCode: d.LastStatusCode, CreatedAt: apiTime(d.CreatedAt),
	}
	if d.LastError != "" {
		out.LastError = &d.LastError
	}
	if d.Status == webhooks.StatusPending {
		next := apiTime(d.NextAttemptAt)
		out.NextAttemptAt = &next
	}
	if d.DeliveredAt != nil {
		at := apiTime(*d.DeliveredAt)
		out.DeliveredAt = &at
	}
	return out
}

// errWebhooksOff answers the webhook routes of a server given no store
// (Deps.Webhooks).
var errWebhooksOff = &requestError{status: http.StatusNotFound, detail: "webhooks are not served here"}

// handleCreateWebhook handles the "POST /webhooks" route.
func (s *Server) handleCreateWebhook(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	if s.Webhooks == nil {
		writeError(w, r, s.Logger, errWebhooksOff)
		return
	}
	// The role first: a job seeker learns that webhooks are not for them
	// before anything about their body.
	if err := webhooks.CheckCanSubscribe(caller); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var body struct {
		URL    *string  `json:"url"`
		Events []string `json:"events"`
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := decodeJSON(r, &body); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	sub, err := s.Webhooks.Create(r.Context(), caller, body.URL, body.Events)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	created(w, "/webhooks/"+sub.ID.String(), newWebhookJSON(sub))
}

// handleListWebhooks handles the "GET /webhooks" route: the caller's own
// subscriptions (a job seeker has none).
func (s *Server) handleListWebhooks(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	if s.Webhooks == nil {
		writeError(w, r, s.Logger, errWebhooksOff)
		return
	}
	subs, err := s.Webhooks.List(r.Context(), caller.UserID)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	items := make([]webhookJSON, len(subs))
	for i, sub := range subs {
		items[i] = newWebhookJSON(sub)
	}
	ok(w, map[string]any{"items": items})
}

// handleGetWebhook handles the "GET /webhooks/{id}" route. Another
// caller's subscription is not found.
func (s *Server) handleGetWebhook(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	id, err := s.webhookID(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	sub, err := s.Webhooks.Get(r.Context(), caller.UserID, id)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	ok(w, newWebhookJSON(sub))
}

// handleDeleteWebhook handles the "DELETE /webhooks/{id}" route: nothing
// more is sent to it, its pending retries included.
func (s *Server) handleDeleteWebhook(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	id, err := s.webhookID(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	if err := s.Webhooks.Delete(r.Context(), caller.UserID, id); err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleWebhookDeliveries handles the "GET /webhooks/{id}/deliveries"
// route: the subscription's deliveries, newest first.
func (s *Server) handleWebhookDeliveries(w http.ResponseWriter, r *http.Request) {
	caller, _ := callerFrom(r.Context())
	id, err := s.webhookID(r)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	limit, after, err := parsePaging(r.URL.Query())
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	var cursor *webhooks.DeliveryCursor
	if after != nil {
		cursor = &webhooks.DeliveryCursor{CreatedAt: after.CreatedAt, ID: after.ID}
	}
	page, err := s.Webhooks.Deliveries(r.Context(), caller.UserID, id, limit, cursor)
	if err != nil {
		writeError(w, r, s.Logger, err)
		return
	}
	out := pageJSON[webhookDeliveryJSON]{Items: make([]webhookDeliveryJSON, len(page.Items)), Total: page.Total}
	for i, d := range page.Items {
		out.Items[i] = newWebhookDeliveryJSON(d)
	}
	if page.Next != nil {
		out.NextCursor = encodePageCursor(page.Next.CreatedAt, page.Next.ID)
	}
	ok(w, out)
}

// webhookID reads the subscription id of the path, once it is known that
// the server serves webhooks.
func (s *Server) webhookID(r *http.Request) (uuid.UUID, error) {
	if s.Webhooks == nil {
		return uuid.Nil, errWebhooksOff
	}
	return pathID(r)
}
