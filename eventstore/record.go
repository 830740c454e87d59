package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
)

// Metadata says who caused an event and within which request. It travels in
// the context from the HTTP layer to Append.
type Metadata struct {
	ActorID       uuid.UUID `json:"actor_id,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	CausationID   string    `json:"causation_id,omitempty"`
	RequestID     string    `json:"request_id,omitempty"`
}

type metadataKey struct{}

// WithMetadata returns a context whose appends carry m.
func WithMetadata(ctx context.Context, m Metadata) context.Context {
	return context.WithValue(ctx, metadataKey{}, m)
}

// MetadataFrom returns the metadata stored in ctx, or the zero value.
func MetadataFrom(ctx context.Context) Metadata {
	m, _ := ctx.Value(metadataKey{}).(Metadata)
	return m
}

// WithActor returns a context whose appends name actor as their cause.
func WithActor(ctx context.Context, actor uuid.UUID) context.Context {
	m := MetadataFrom(ctx)
	m.ActorID = actor
	return WithMetadata(ctx, m)
}

// Checkpoint is a place in the log in the order readers see it: by the
// committing transaction's id, then by position. Positions alone are not
// enough, because transactions commit in a different order than they take
// positions; a reader that only reads below the oldest running transaction
// and resumes after a Checkpoint never skips an event.
type Checkpoint struct {
	TxID     uint64 `json:"tx_id"`
	Position int64  `json:"position"`
}

// Less reports whether c comes before o in the log.
func (c Checkpoint) Less(o Checkpoint) bool {
	if c.TxID != o.TxID {
		return c.TxID < o.TxID
	}
	return c.Position < o.Position
}

// IsZero reports whether c is the start of the log.
func (c Checkpoint) IsZero() bool { return c == Checkpoint{} }

func (c Checkpoint) String() string { return fmt.Sprintf("%d/%d", c.TxID, c.Position) }

// Record is one event as the log stores it.
type Record struct {
	Position      int64           `json:"position"`
	TxID          uint64          `json:"tx_id"`
	EventID       uuid.UUID       `json:"event_id"`
	StreamType    string          `json:"stream_type"`
	StreamID      uuid.UUID       `json:"stream_id"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      Metadata        `json:"metadata"`
	OccurredAt    time.Time       `json:"occurred_at"`
}

// Checkpoint is the record's place in the log.
func (r Record) Checkpoint() Checkpoint { return Checkpoint{TxID: r.TxID, Position: r.Position} }

// Event decodes the record's data into its domain event.
func (r Record) Event() (domain.Event, error) {
	return domain.DecodeEvent(r.Type, r.SchemaVersion, r.Data)
}

// Events decodes records into their events, in order: a history to fold.
func Events(records []Record) ([]domain.Event, error) {
	events := make([]domain.Event, len(records))
	for i, r := range records {
		e, err := r.Event()
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", r.Position, err)
		}
		events[i] = e
	}
	return events, nil
}

// Message metadata keys, so that a handler can skip events it does not
// handle without decoding the payload.
const (
	MetaEventType  = "event_type"
	MetaStreamType = "stream_type"
)

func (r Record) message() (*message.Message, error) {
	payload, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	msg := message.NewMessage(r.EventID.String(), payload)
	msg.Metadata.Set(MetaEventType, r.Type)
	msg.Metadata.Set(MetaStreamType, r.StreamType)
	return msg, nil
}

// RecordFromMessage reads the record that Append published.
func RecordFromMessage(msg *message.Message) (Record, error) {
	var r Record
	if err := json.Unmarshal(msg.Payload, &r); err != nil {
		return Record{}, fmt.Errorf("message %s is not an event record: %w", msg.UUID, err)
	}
	return r, nil
}
