package bus

import (
	"testing"

	"github.com/matryer/is"

	"github.com/jobboard/jobboard/eventstore"
)

func TestAppendLogTellsWhatLiesAhead(t *testing.T) {
	is := is.New(t)
	l := newAppendLog()
	at := eventstore.Checkpoint{TxID: 10, Position: 5}
	is.True(!l.beyond(at, []string{"JobPosted"}, 0)) // nothing appended yet
	l.record("JobPosted", eventstore.Checkpoint{TxID: 11, Position: 7})
	l.record("JobPosted", eventstore.Checkpoint{TxID: 9, Position: 9})                         // an older one does not lower the newest
	is.True(l.beyond(at, []string{"JobPosted"}, 0))                                            // a job past where the group is
	is.True(!l.beyond(at, []string{"UserRegistered"}, 0))                                      // nothing of another type
	is.True(l.beyond(at, []string{"UserRegistered", "JobPosted"}, 0))                          // one of several types
	is.True(!l.beyond(eventstore.Checkpoint{TxID: 11, Position: 7}, []string{"JobPosted"}, 0)) // a group that has it

	l.recordUntyped()
	is.True(l.beyond(eventstore.Checkpoint{TxID: 99}, []string{"AnyType"}, 0))                 // an announcement of unknown types counts for every type
	is.True(!l.beyond(eventstore.Checkpoint{TxID: 99}, []string{"AnyType"}, l.untypedCount())) // until a batch has started after it
}

func TestAppendedPayloadRoundTrip(t *testing.T) {
	is := is.New(t)
	p := appendedPayload("relay-1", map[string]eventstore.Checkpoint{
		"JobPosted": {TxID: 12, Position: 40}, "ApplicationSubmitted": {TxID: 13, Position: 41}}, false)
	is.Equal(p, "relay-1:ApplicationSubmitted=13/41,JobPosted=12/40")
	id, newest := parsePayload(p)
	is.Equal(id, "relay-1")
	is.Equal(newest, map[string]eventstore.Checkpoint{"JobPosted": {TxID: 12, Position: 40}, "ApplicationSubmitted": {TxID: 13, Position: 41}})

	for _, unknown := range []string{
		appendedPayload("relay-1", map[string]eventstore.Checkpoint{"JobPosted": {TxID: 1}}, true),        // untyped
		appendedPayload("relay-1", map[string]eventstore.Checkpoint{"Job'; DROP TABLE x; --": {}}, false), // a name that could not be inlined
		"relay-1",               // just an id
		"relay-1:JobPosted",     // no place
		"relay-1:JobPosted=1/x", // a bad place
		"relay-1:a'b=1/2",       // a bad name
	} {
		id, newest := parsePayload(unknown)
		is.Equal(id, "relay-1") // the sender is known
		is.Equal(newest, nil)   // what it appended is not: every type
	}
	many := map[string]eventstore.Checkpoint{}
	for i := range maxNotifiedTypes + 1 {
		many["T"+string(rune('a'+i%26))+string(rune('a'+i/26))] = eventstore.Checkpoint{TxID: 1}
	}
	is.Equal(appendedPayload("r", many, false), "r:") // too many to name: every type
}
