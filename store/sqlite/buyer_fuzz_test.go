package sqlite

import (
	"fmt"
	"strings"
	"testing"
)

// row is a scanner over fixed values, standing in for a row of a file
// someone else (or a disk fault) wrote.
type row []any

func (r row) Scan(dest ...any) error {
	if len(dest) != len(r) {
		return fmt.Errorf("%d columns, %d destinations", len(r), len(dest))
	}
	for i, d := range dest {
		switch d := d.(type) {
		case *string:
			*d = r[i].(string)
		case *[]byte:
			*d = r[i].([]byte)
		case *int64:
			*d = r[i].(int64)
		default:
			return fmt.Errorf("column %d: unexpected %T", i, d)
		}
	}
	return nil
}

// FuzzScanStored decodes token and payment rows with arbitrary contents:
// a corrupt file gives errors, never a panic or a token with a short
// preimage.
func FuzzScanStored(f *testing.F) {
	hex64 := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add(hex64, hex64, []byte("mac"), make([]byte, 32), int64(10_000), int64(0), int64(1), int64(0), "pending")
	f.Add("zz", hex64[:10], []byte{}, []byte{1}, int64(-1), int64(-5), int64(-1<<62), int64(1<<62), "")
	f.Fuzz(func(t *testing.T, id, hash string, mac, preimage []byte, price, fee, created, until int64, status string) {
		tok, err := scanToken(row{id, hash, "https://a.test:443", "/", mac, preimage, price, fee, created, until})
		if err == nil && (len(preimage) != 32 || !strings.EqualFold(tok.ID.String(), id) || !strings.EqualFold(tok.PaymentHash.String(), hash)) {
			t.Fatalf("accepted id %q hash %q preimage of %d bytes", id, hash, len(preimage))
		}
		p, err := scanPayment(row{hash, "u", "h", "o", "/", "inv", "d", price, fee, status, mac, created, until, ""})
		if err == nil && !strings.EqualFold(p.Hash.String(), hash) {
			t.Fatalf("accepted hash %q", hash)
		}
	})
}
