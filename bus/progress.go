package bus

import (
	"sync"

	"github.com/jobboard/jobboard/eventstore"
)

// Progress is what a process knows, without asking the database, of how
// far the consumer groups it runs have got: each subscriber reports the
// checkpoint it committed, and the place it found its group at when there
// was nothing to read. Another process's instance of the same group may be
// further; never less far.
type Progress struct {
	mu     sync.Mutex
	groups map[string]eventstore.Checkpoint
}

func newProgress() *Progress {
	return &Progress{groups: map[string]eventstore.Checkpoint{}}
}

// runs records that this process runs group.
func (p *Progress) runs(group string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.groups[group]; !ok {
		p.groups[group] = eventstore.Checkpoint{}
	}
}

// advance records that group has got at least to cp.
func (p *Progress) advance(group string, cp eventstore.Checkpoint) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.groups[group].Less(cp) {
		p.groups[group] = cp
	}
}

// Reached reports whether every one of groups is known here to have got
// to cp; local is false when one of them does not run in this process, so
// only the database can tell.
func (p *Progress) Reached(cp eventstore.Checkpoint, groups ...string) (reached, local bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	reached, local = true, true
	for _, g := range groups {
		at, ok := p.groups[g]
		if !ok {
			local = false
		}
		if !ok || at.Less(cp) {
			reached = false
		}
	}
	return reached, local
}
