package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/jobboard/jobboard/domain"
)

// Metadata says who caused an event and within which request. It travels in
// the context from the HTTP layer to Append. Only RequestID may come from a
// client (its X-Request-Id, when sane); the correlation and causation ids
// are the service's own, the causation id empty for a person's request.
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
	// Subject is the person whose personal fields the event holds
	// (domain.PersonalFieldsOf), uuid.Nil for an event that holds none.
	Subject uuid.UUID `json:"-"`
	// Shredded says the event's personal fields read as null because their
	// subject's data was erased.
	Shredded bool `json:"personal_data_erased,omitempty"`

	// sealed says Data is as the log stores it, personal fields encrypted
	// (Keyring.Open), under the key wrappedKey (nil: the key is gone).
	sealed     bool
	wrappedKey []byte
}

// Checkpoint is the record's place in the log.
func (r Record) Checkpoint() Checkpoint { return Checkpoint{TxID: r.TxID, Position: r.Position} }

// Event decodes the record's data into its domain event.
func (r Record) Event() (domain.Event, error) {
	if r.sealed {
		return nil, fmt.Errorf("event %d: %w", r.Position, errNoKeyring)
	}
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

// Message metadata keys. A message on the events topic is one record: its
// id is the event's, its payload the event's data, and its metadata the
// rest, so that a handler can skip events it does not handle without
// decoding anything.
const (
	MetaEventType     = "event_type"
	MetaStreamType    = "stream_type"
	metaPosition      = "position"
	metaTxID          = "tx_id"
	metaStreamID      = "stream_id"
	metaVersion       = "version"
	metaSchemaVersion = "schema_version"
	metaActorID       = "actor_id"
	metaCorrelationID = "correlation_id"
	metaCausationID   = "causation_id"
	metaRequestID     = "request_id"
	metaOccurredAt    = "occurred_at"
	metaSubject       = "subject_id"
	metaShredded      = "personal_data_erased"
)

// Message is the Watermill message that delivers r, which must be open
// (Keyring.Open): a message carries the event as it was appended.
func (r Record) Message() *message.Message {
	msg := message.NewMessage(r.EventID.String(), message.Payload(r.Data))
	msg.Metadata = message.Metadata{
		MetaEventType:     r.Type,
		MetaStreamType:    r.StreamType,
		metaPosition:      strconv.FormatInt(r.Position, 10),
		metaTxID:          strconv.FormatUint(r.TxID, 10),
		metaStreamID:      r.StreamID.String(),
		metaVersion:       strconv.FormatInt(r.Version, 10),
		metaSchemaVersion: strconv.Itoa(r.SchemaVersion),
		metaOccurredAt:    r.OccurredAt.Format(time.RFC3339Nano),
	}
	if r.Metadata.ActorID != uuid.Nil {
		msg.Metadata[metaActorID] = r.Metadata.ActorID.String()
	}
	if r.Subject != uuid.Nil {
		msg.Metadata[metaSubject] = r.Subject.String()
	}
	if r.Shredded {
		msg.Metadata[metaShredded] = "true"
	}
	for key, v := range map[string]string{metaCorrelationID: r.Metadata.CorrelationID,
		metaCausationID: r.Metadata.CausationID, metaRequestID: r.Metadata.RequestID} {
		if v != "" {
			msg.Metadata[key] = v
		}
	}
	return msg
}

// RecordFromMessage reads the record a message on the events topic
// delivers.
func RecordFromMessage(msg *message.Message) (Record, error) {
	m := msg.Metadata
	r := Record{
		Type:       m.Get(MetaEventType),
		StreamType: m.Get(MetaStreamType),
		Data:       json.RawMessage(msg.Payload),
		Shredded:   m.Get(metaShredded) == "true",
		Metadata: Metadata{
			CorrelationID: m.Get(metaCorrelationID),
			CausationID:   m.Get(metaCausationID),
			RequestID:     m.Get(metaRequestID),
		},
	}
	var errs []error
	parse := func(key string, f func(string) error) {
		if err := f(m.Get(key)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	parse(metaPosition, func(v string) (err error) { r.Position, err = strconv.ParseInt(v, 10, 64); return })
	parse(metaTxID, func(v string) (err error) { r.TxID, err = strconv.ParseUint(v, 10, 64); return })
	parse(metaVersion, func(v string) (err error) { r.Version, err = strconv.ParseInt(v, 10, 64); return })
	parse(metaSchemaVersion, func(v string) (err error) { r.SchemaVersion, err = strconv.Atoi(v); return })
	parse(metaOccurredAt, func(v string) (err error) { r.OccurredAt, err = time.Parse(time.RFC3339Nano, v); return })
	parse(metaStreamID, func(v string) (err error) { r.StreamID, err = uuid.Parse(v); return })
	if err := r.EventID.UnmarshalText([]byte(msg.UUID)); err != nil {
		errs = append(errs, fmt.Errorf("id: %w", err))
	}
	if v := m.Get(metaActorID); v != "" {
		parse(metaActorID, func(v string) (err error) { r.Metadata.ActorID, err = uuid.Parse(v); return })
	}
	if v := m.Get(metaSubject); v != "" {
		parse(metaSubject, func(v string) (err error) { r.Subject, err = uuid.Parse(v); return })
	}
	if r.Type == "" {
		errs = append(errs, errors.New("no event type"))
	}
	if err := errors.Join(errs...); err != nil {
		return Record{}, fmt.Errorf("message %s is not an event record: %w", msg.UUID, err)
	}
	return r, nil
}

// CheckpointFromMessage reads the place in the log of the event a message
// on the events topic delivers, without the rest of the record.
func CheckpointFromMessage(msg *message.Message) (Checkpoint, error) {
	txID, err1 := strconv.ParseUint(msg.Metadata.Get(metaTxID), 10, 64)
	position, err2 := strconv.ParseInt(msg.Metadata.Get(metaPosition), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return Checkpoint{}, fmt.Errorf("message %s is not an event record: %w", msg.UUID, err)
	}
	return Checkpoint{TxID: txID, Position: position}, nil
}
