package l402

import (
	"encoding/base64"
	"strings"
)

// decodeBase64 accepts the standard and URL-safe alphabets, padded or not,
// because real servers send all four. Mixing the alphabets is an error.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}
