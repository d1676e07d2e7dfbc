module github.com/satloop/satloop

go 1.26.8

require gopkg.in/macaroon.v2 v2.1.0

require (
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
