package domain

import (
	"encoding/json"
	"fmt"
	"sort"
)

// Event is a fact that happened to one aggregate. Its JSON form is what the
// log stores, so fields are only ever added; renaming or retyping a field
// means a new schema version and an upcaster.
type Event interface {
	EventType() string
}

type eventKind struct {
	version int
	decode  func(data []byte) (Event, error)
}

var eventKinds = map[string]eventKind{}

// registerEvent makes events of type E decodable from the log. version is
// the schema version that new events of this type are written with.
func registerEvent[E Event](version int) {
	var zero E
	typ := zero.EventType()
	if _, dup := eventKinds[typ]; dup {
		panic("domain: event type registered twice: " + typ)
	}
	eventKinds[typ] = eventKind{version: version, decode: func(data []byte) (Event, error) {
		var e E
		err := json.Unmarshal(data, &e)
		return e, err
	}}
}

// SchemaVersion is the version that events of e's type are written with.
func SchemaVersion(e Event) int {
	return eventKinds[e.EventType()].version
}

// EventTypes lists every known event type, sorted.
func EventTypes() []string {
	types := make([]string, 0, len(eventKinds))
	for t := range eventKinds {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// DecodeEvent turns a stored event back into its Go type. An event written
// with another schema version than the current one is refused until an
// upcaster for it exists, rather than being misread.
func DecodeEvent(eventType string, version int, data []byte) (Event, error) {
	kind, ok := eventKinds[eventType]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	if version != kind.version {
		return nil, fmt.Errorf("event %s has schema version %d, this build reads %d", eventType, version, kind.version)
	}
	e, err := kind.decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return e, nil
}
