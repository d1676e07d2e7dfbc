// Package client is satloop's buyer: an http.RoundTripper (Transport) that
// pays L402 challenges through a Payer (an lnd node today, the allowance
// daemon later), stores the tokens it buys in a Store, and reuses them.
//
// The money path is paranoid. An invoice is decoded offline and refused,
// with nothing paid, when its amount is absent or above Policy.MaxPrice,
// when it is for another network, has expired, or pays another hash than
// the token it comes with (RefusedError). A pending payment is recorded
// before paying, so that a crash is resolved by payment hash before the
// same scope is paid again. One purchase is made per scope at a time,
// across goroutines (a lock in the Transport) and processes (a lock in the
// Store). A server that refuses the token it was just paid for is reported
// (PaidButRefusedError), never paid in a loop.
//
// Per request, WithReceipt tells the caller what happened: paid or not,
// amount, fee, payment hash, token reused, and the quote read.
//
// Secrets (preimages, macaroons, the Authorization header) never reach
// logs or errors.
package client
