package l402

import "errors"

// The errors below let a server choose its answer with errors.Is. Errors
// returned by this package wrap exactly one of them, with details that never
// include a preimage or a macaroon.
//
// The intended mapping, which the seller gateway implements:
//
//	ErrMalformed, ErrUnknownVersion, ErrInvalid      401 Unauthorized
//	ErrUnknownToken, ErrExpired, ErrWrongService,
//	ErrCapability, ErrOverLimit                      402 with a fresh challenge
//	ErrNoCredential                                  402 with a challenge
//	ErrNoChallenge                                   (client side) not an L402 402
var (
	// ErrMalformed means a header, macaroon or caveat could not be decoded.
	ErrMalformed = errors.New("malformed L402 credential")
	// ErrUnknownVersion means the token identifier has a version this code
	// does not know, so nothing in it can be trusted.
	ErrUnknownVersion = errors.New("unknown L402 identifier version")
	// ErrInvalid means the credential decodes but is not genuine: the
	// preimage does not match the payment hash, the signature does not match
	// the root key, or a caveat widens an earlier one.
	ErrInvalid = errors.New("invalid L402 credential")
	// ErrUnknownToken means no root key exists for the token: it was never
	// minted here or it was revoked.
	ErrUnknownToken = errors.New("unknown or revoked L402 token")
	// ErrExpired means the token's validity (a _valid_until caveat) has passed.
	ErrExpired = errors.New("L402 token expired")
	// ErrWrongService means the token is not for the service requested.
	ErrWrongService = errors.New("L402 token not valid for this service")
	// ErrCapability means the token does not grant the capability requested.
	ErrCapability = errors.New("L402 token lacks the capability requested")
	// ErrOverLimit means a constraint caveat forbids the request.
	ErrOverLimit = errors.New("L402 token constraint exceeded")
	// ErrNoCredential means a request carries no L402 credential at all; a
	// server answers it with a challenge.
	ErrNoCredential = errors.New("no L402 credential")
	// ErrNoChallenge means a response carries no L402 or LSAT challenge.
	ErrNoChallenge = errors.New("no L402 challenge")
)
