//go:build !unix

package sqlite

import (
	"context"
	"errors"
)

// Lock is not implemented off Unix: without a cross-process lock two
// processes could both pay for one scope, so the buyer refuses to buy.
func (s *BuyerStore) Lock(ctx context.Context, key string) (func(), error) {
	return nil, errors.New("sqlite: cross-process locks need flock(2), which this system lacks")
}
