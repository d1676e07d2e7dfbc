// Package gate is the seller's side of L402: a reverse proxy that answers
// requests to paid routes with 402 Payment Required and a challenge (a
// Lightning invoice and a token bound to its payment hash), verifies the
// credentials buyers come back with, and proxies what is paid for.
//
// Verification is local: root keys derive from a master secret
// (l402.DerivedRootKeys), so a paid request costs no node call and no store
// round trip, except the one atomic quota count on routes that sell a
// number of requests. Capabilities, constraints, expiry and quotas minted
// into a token are all enforced, including after a holder attenuates it.
// Shared state (quotas, revocations, sales) lives in a Store: SQLite for
// one instance, PostgreSQL for several behind a load balancer.
//
// Errors map to HTTP answers in one function, responseFor; see its table.
package gate
