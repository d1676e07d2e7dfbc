package l402

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// RootKeyLen is the size of a token root key.
const RootKeyLen = 32

// RootKeyStore gives the root key of each token. Implementations must be safe
// for concurrent use.
type RootKeyStore interface {
	// NewRootKey returns the root key for a token being minted.
	NewRootKey(ctx context.Context, id Identifier) ([]byte, error)
	// RootKey returns the root key of a token minted earlier, or an error
	// wrapping ErrUnknownToken when there is none (never minted, or revoked).
	RootKey(ctx context.Context, id Identifier) ([]byte, error)
}

// Compile-time guards.
var (
	_ RootKeyStore = (*DerivedRootKeys)(nil)
	_ RootKeyStore = (*MemoryRootKeys)(nil)
)

// DerivedRootKeys derives each token's root key from one master secret and
// the token id, so that verifying needs no storage round trip and any number
// of gateways sharing the secret verify each other's tokens. Revoking a
// derived token needs a revocation list kept elsewhere.
type DerivedRootKeys struct {
	// keyed is HMAC-SHA256 already keyed with the master secret. It is never
	// written to: each derivation works on a clone, which skips hashing the
	// key pads again and lets concurrent callers share it.
	keyed hmacState
}

// hmacState is the subset of crypto/hmac's hash that cloning needs.
type hmacState interface {
	hash.Hash
	hash.Cloner
}

// rootKeyLabel separates this derivation from any other use of the secret.
// Label plus token id fit one SHA-256 block (at most 55 bytes).
const rootKeyLabel = "satloop/l402/rootkey/0"

// NewDerivedRootKeys returns a key store deriving from master, which must be
// at least 32 bytes of secret randomness.
func NewDerivedRootKeys(master []byte) (*DerivedRootKeys, error) {
	if len(master) < 32 {
		return nil, fmt.Errorf("l402: master secret has %d bytes, need at least 32", len(master))
	}
	keyed, ok := hmac.New(sha256.New, master).(hmacState)
	if !ok {
		return nil, errors.New("l402: this Go's HMAC cannot be cloned")
	}
	// Reset makes the HMAC keep its padded-key states, so that clones start
	// from them instead of hashing the pads again.
	keyed.Reset()
	return &DerivedRootKeys{keyed: keyed}, nil
}

// NewRootKey derives the root key for id.
func (d *DerivedRootKeys) NewRootKey(_ context.Context, id Identifier) ([]byte, error) {
	return d.derive(id)
}

// RootKey derives the root key for id; every token id has one.
func (d *DerivedRootKeys) RootKey(_ context.Context, id Identifier) ([]byte, error) {
	return d.derive(id)
}

func (d *DerivedRootKeys) derive(id Identifier) ([]byte, error) {
	clone, err := d.keyed.Clone()
	if err != nil {
		return nil, fmt.Errorf("l402: derive root key: %w", err)
	}
	mac := clone.(hash.Hash)
	mac.Write([]byte(rootKeyLabel))
	mac.Write(id.TokenID[:])
	return mac.Sum(make([]byte, 0, RootKeyLen)), nil
}

// MemoryRootKeys stores a random root key per token in memory, as Aperture
// does in its database. Revoke deletes a key, which makes the token unknown.
// It suits a single process and tests; durable stores live in store/.
type MemoryRootKeys struct {
	mu   sync.RWMutex
	keys map[TokenID][]byte
}

// NewMemoryRootKeys returns an empty in-memory key store.
func NewMemoryRootKeys() *MemoryRootKeys {
	return &MemoryRootKeys{keys: make(map[TokenID][]byte)}
}

// NewRootKey creates and stores a random key for id.
func (m *MemoryRootKeys) NewRootKey(_ context.Context, id Identifier) ([]byte, error) {
	key := make([]byte, RootKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("l402: root key: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, exists := m.keys[id.TokenID]; exists {
		return nil, errors.New("l402: root key: token id already minted")
	}
	m.keys[id.TokenID] = key
	return key, nil
}

// RootKey returns the stored key for id.
func (m *MemoryRootKeys) RootKey(_ context.Context, id Identifier) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	key, ok := m.keys[id.TokenID]
	if !ok {
		return nil, fmt.Errorf("l402: %w: token %s", ErrUnknownToken, id.TokenID)
	}
	return key, nil
}

// Revoke deletes the key of id; its token no longer verifies.
func (m *MemoryRootKeys) Revoke(id Identifier) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, id.TokenID)
}
