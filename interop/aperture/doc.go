// Package aperture holds interoperability tests between satloop's l402
// package and Aperture v0.4.2, Lightning Labs' L402 proxy, using Aperture's
// own code. It is a separate module so that Aperture's dependency tree (lnd,
// gRPC, ...) never enters satloop's.
package aperture
