package gate

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/satloop/satloop/l402"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore is a Store held in the memory of one process: for tests, and
// for a single gateway that accepts losing its quotas, revocations and sales
// when it restarts. Its zero value is not usable; call NewMemoryStore.
type MemoryStore struct {
	mu          sync.Mutex
	used        map[l402.TokenID]int64
	revoked     map[l402.TokenID]bool
	revocations []l402.TokenID // in the order revoked; cursor n means the first n seen
	sales       []Sale         // in the order recorded
	sold        map[l402.TokenID]bool
}

// NewMemoryStore returns an empty in-memory store.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		used:    make(map[l402.TokenID]int64),
		revoked: make(map[l402.TokenID]bool),
		sold:    make(map[l402.TokenID]bool),
	}
}

// UseQuota implements Store.
func (m *MemoryStore) UseQuota(_ context.Context, id l402.TokenID, limit int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked[id] {
		return 0, fmt.Errorf("gate: use quota of token %s: %w", id, ErrRevoked)
	}
	used := m.used[id]
	if used >= limit {
		return used, fmt.Errorf("gate: use quota of token %s (%d of %d used): %w", id, used, limit, ErrQuotaExhausted)
	}
	used++
	m.used[id] = used
	return used, nil
}

// RefundQuota implements Store.
func (m *MemoryStore) RefundQuota(_ context.Context, id l402.TokenID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used[id] > 0 {
		m.used[id]--
	}
	return nil
}

// Revoke implements Store. The reason is not kept: nothing reads it back
// from memory.
func (m *MemoryStore) Revoke(_ context.Context, id l402.TokenID, _ string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked[id] {
		return nil
	}
	m.revoked[id] = true
	m.revocations = append(m.revocations, id)
	return nil
}

// Revoked implements Store.
func (m *MemoryStore) Revoked(_ context.Context, id l402.TokenID) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revoked[id], nil
}

// RevokedSince implements Store. The cursor is the number of revocations
// already seen.
func (m *MemoryStore) RevokedSince(_ context.Context, cursor int64) ([]l402.TokenID, int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cursor < 0 || cursor > int64(len(m.revocations)) {
		return nil, cursor, fmt.Errorf("gate: revocation cursor %d is not one this store returned", cursor)
	}
	ids := append([]l402.TokenID(nil), m.revocations[cursor:]...)
	return ids, int64(len(m.revocations)), nil
}

// RecordSale implements Store.
func (m *MemoryStore) RecordSale(_ context.Context, sale Sale) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sold[sale.TokenID] {
		return false, nil
	}
	m.sold[sale.TokenID] = true
	sale.At = sale.At.UTC().Truncate(time.Microsecond)
	m.sales = append(m.sales, sale)
	return true, nil
}

// Sales implements Store.
func (m *MemoryStore) Sales(_ context.Context, since time.Time, limit int) ([]Sale, error) {
	if limit < 1 {
		return nil, nil
	}
	since = since.Truncate(time.Microsecond)
	m.mu.Lock()
	var out []Sale
	for i := len(m.sales) - 1; i >= 0; i-- {
		if !m.sales[i].At.Before(since) {
			out = append(out, m.sales[i])
		}
	}
	m.mu.Unlock()
	// Walking backwards put later records first; a stable sort by At keeps
	// that order among equal times.
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Close implements Store; there is nothing to release.
func (m *MemoryStore) Close() error { return nil }
