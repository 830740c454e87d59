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

// upcaster turns the JSON object of an event at one schema version into the
// next version's, in place.
type upcaster func(fields map[string]json.RawMessage) error

// upcasters[type][v] turns version v of type into v+1.
var upcasters = map[string]map[int]upcaster{}

// registerUpcaster makes events of eventType stored at schema version from
// readable by turning them into version from+1. Chained, they bring any old
// event up to the current version before anything else sees it.
func registerUpcaster(eventType string, from int, up upcaster) {
	if upcasters[eventType] == nil {
		upcasters[eventType] = map[int]upcaster{}
	}
	if _, dup := upcasters[eventType][from]; dup {
		panic(fmt.Sprintf("domain: two upcasters for %s v%d", eventType, from))
	}
	upcasters[eventType][from] = up
}

// Upcast returns the JSON of a stored event at the current schema version of
// its type. Data already at that version is returned as it is.
func Upcast(eventType string, version int, data []byte) ([]byte, error) {
	kind, ok := eventKinds[eventType]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	switch {
	case version == kind.version:
		return data, nil
	case version > kind.version:
		return nil, fmt.Errorf("event %s has schema version %d, written by a newer build than this one (which reads up to %d)", eventType, version, kind.version)
	case version < 1:
		return nil, fmt.Errorf("event %s has schema version %d", eventType, version)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("upcast %s v%d: %w", eventType, version, err)
	}
	for v := version; v < kind.version; v++ {
		up, ok := upcasters[eventType][v]
		if !ok {
			return nil, fmt.Errorf("event %s has schema version %d and no upcaster reads it", eventType, v)
		}
		if err := up(fields); err != nil {
			return nil, fmt.Errorf("upcast %s v%d to v%d: %w", eventType, v, v+1, err)
		}
	}
	return json.Marshal(fields)
}

// DecodeEvent turns a stored event back into its Go type, through the
// upcasters when it was stored with an older schema version: the domain and
// the projectors only ever see current shapes. A version that no upcaster
// bridges, or a newer one, is refused rather than misread.
func DecodeEvent(eventType string, version int, data []byte) (Event, error) {
	data, err := Upcast(eventType, version, data)
	if err != nil {
		return nil, err
	}
	e, err := eventKinds[eventType].decode(data)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", eventType, err)
	}
	return e, nil
}
