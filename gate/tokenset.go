package gate

import (
	"sync"

	"github.com/satloop/satloop/l402"
)

// tokenSet is a set of token ids held in memory, each with the unix time
// after which it may be forgotten (0: never). Lookups take a read lock
// and allocate nothing.
type tokenSet struct {
	mu sync.RWMutex
	m  map[l402.TokenID]int64
}

func newTokenSet() *tokenSet { return &tokenSet{m: make(map[l402.TokenID]int64)} }

func (s *tokenSet) has(id l402.TokenID) bool {
	s.mu.RLock()
	_, ok := s.m[id]
	s.mu.RUnlock()
	return ok
}

func (s *tokenSet) add(id l402.TokenID, forgetAfter int64) {
	s.mu.Lock()
	s.m[id] = forgetAfter
	s.mu.Unlock()
}

func (s *tokenSet) len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// sweep forgets the ids whose time has passed.
func (s *tokenSet) sweep(nowUnix int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, until := range s.m {
		if until != 0 && until <= nowUnix {
			delete(s.m, id)
		}
	}
}
