module github.com/satloop/satloop

go 1.26.8

require (
	github.com/spf13/cobra v1.10.2
	gopkg.in/macaroon.v2 v2.1.0
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
