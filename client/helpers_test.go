package client_test

import "gopkg.in/macaroon.v2"

func readMacaroon(raw []byte) (*macaroon.Macaroon, error) {
	var m macaroon.Macaroon
	return &m, m.UnmarshalBinary(raw)
}
