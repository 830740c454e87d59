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
	newFn   func() Event
}

var eventKinds = map[string]eventKind{}

// registerEvent makes an event type decodable from the log. version is the
// schema version that new events of this type are written with.
func registerEvent(version int, newFn func() Event) {
	typ := newFn().EventType()
	if _, dup := eventKinds[typ]; dup {
		panic("domain: event type registered twice: " + typ)
	}
	eventKinds[typ] = eventKind{version: version, newFn: newFn}
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
// with an older schema version than the current one is refused until an
// upcaster for it exists, rather than being misread.
func DecodeEvent(eventType string, version int, data []byte) (Event, error) {
	kind, ok := eventKinds[eventType]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	if version != kind.version {
		return nil, fmt.Errorf("event %s has schema version %d, this build reads %d", eventType, version, kind.version)
	}
	e := kind.newFn()
	if err := json.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return derefEvent(e), nil
}

// derefEvent returns events by value: newFn hands out pointers so that
// json.Unmarshal can fill them, but aggregates switch on value types.
func derefEvent(e Event) Event {
	switch e := e.(type) {
	case *UserRegistered:
		return *e
	}
	return e
}
