package bus

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jobboard/jobboard/eventstore"
)

// appendLog remembers, per event type, the newest checkpoint appended
// (as far as this process was told), so that a consumer group can tell
// whether the log holds anything it acts on past where it is. Appends
// announced without their types (by a relay that reconnected, say) count
// for every type.
type appendLog struct {
	mu      sync.Mutex
	newest  map[string]eventstore.Checkpoint
	untyped uint64
}

func newAppendLog() *appendLog { return &appendLog{newest: map[string]eventstore.Checkpoint{}} }

// record notes that events of type typ were appended up to cp.
func (l *appendLog) record(typ string, cp eventstore.Checkpoint) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.newest[typ].Less(cp) {
		l.newest[typ] = cp
	}
}

// recordUntyped notes appends of unknown types and places.
func (l *appendLog) recordUntyped() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.untyped++
}

// untypedCount is how many untyped announcements there were.
func (l *appendLog) untypedCount() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.untyped
}

// beyond reports whether an event of one of types was appended after cp,
// or an untyped announcement came after the first untypedSeen.
func (l *appendLog) beyond(cp eventstore.Checkpoint, types []string, untypedSeen uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.untyped > untypedSeen {
		return true
	}
	for _, t := range types {
		if cp.Less(l.newest[t]) {
			return true
		}
	}
	return false
}

// eventTypeName is what an event type may look like in a notification's
// payload, which is inlined in the NOTIFY statement.
var eventTypeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// maxNotifiedTypes bounds the types one notification names; more, and it
// names none (every type).
const maxNotifiedTypes = 64

// appendedPayload is the payload of an appended notification: the relay's
// id, a colon, and for each type appended, type=tx_id/position of its
// newest event, comma-separated; nothing after the colon when the types
// are unknown or too many to name.
func appendedPayload(id string, newest map[string]eventstore.Checkpoint, untyped bool) string {
	if untyped || len(newest) > maxNotifiedTypes {
		return id + ":"
	}
	entries := make([]string, 0, len(newest))
	for t, cp := range newest {
		if !eventTypeName.MatchString(t) {
			return id + ":"
		}
		entries = append(entries, t+"="+cp.String())
	}
	slices.Sort(entries)
	return id + ":" + strings.Join(entries, ",")
}

// parsePayload reads a notification's payload: the sending relay's id and,
// for an appended notification, the newest checkpoint of each type
// appended (nil: unknown).
func parsePayload(payload string) (id string, newest map[string]eventstore.Checkpoint) {
	id, list, _ := strings.Cut(payload, ":")
	if list == "" {
		return id, nil
	}
	newest = map[string]eventstore.Checkpoint{}
	for _, entry := range strings.Split(list, ",") {
		typ, place, ok := strings.Cut(entry, "=")
		tx, pos, ok2 := strings.Cut(place, "/")
		txID, err1 := strconv.ParseUint(tx, 10, 64)
		position, err2 := strconv.ParseInt(pos, 10, 64)
		if !ok || !ok2 || err1 != nil || err2 != nil || !eventTypeName.MatchString(typ) {
			return id, nil
		}
		if cp := (eventstore.Checkpoint{TxID: txID, Position: position}); newest[typ].Less(cp) {
			newest[typ] = cp
		}
	}
	return id, newest
}
