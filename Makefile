# `make test` is everything CI runs (.ci/run calls it on a clean clone).
# Steps run in the order listed and stop at the first failure.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
# The steps of `test` must run in order even under `make -j`.
.NOTPARALLEL:

FUZZTIME ?= 5s
BENCHCOUNT ?= 6
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)

.PHONY: test fmt-check vet unit deps-check interop fuzz lab-test bench bench-lab bench-gate build

test: fmt-check vet unit deps-check interop fuzz lab-test

fmt-check:
	@files=$$(gofmt -l .); \
	if [[ -n $$files ]]; then \
		echo "gofmt: these files need formatting (run gofmt -w):"; \
		echo "$$files"; \
		exit 1; \
	fi

vet:
	go vet ./...
	go vet -tags lab ./...

unit:
	go test -race -count=1 ./...

# The protocol package must stay free of Lightning code (see
# docs/ARCHITECTURE.md): buyers and sellers pick their node adapter, l402 is
# shared by all of them.
deps-check:
	@deps=$$(go list -deps ./l402); \
	bad=$$(grep lightningnetwork <<<"$$deps" || true); \
	if [[ -n $$bad ]]; then \
		echo "deps-check: package l402 must not depend on Lightning code, but it imports:"; \
		echo "$$bad"; \
		exit 1; \
	fi

# Interoperability with Aperture v0.4.2, through Aperture's own client,
# authenticator and mint code. A separate module (interop/aperture) so that
# Aperture's own dependency tree (lndclient, etcd, PostgreSQL clients) stays
# out of satloop's go.mod.
interop:
	cd interop/aperture && go vet ./... && go test -race -count=1 ./...

# Integration tests against a real Lightning network: every package with
# files tagged `lab` starts its own lab (btcd + three lnd, see lab/labtest)
# in TestMain. The first run builds lnd and btcd from their Go modules
# (about four minutes); later runs reuse them. -p 1: one network at a time
# on small machines. LABTIMEOUT bounds each package, lab start included.
LABTIMEOUT ?= 20m
lab-test:
	pkgs=$$(scripts/lab-packages.sh); \
	go test -tags lab -race -count=1 -p 1 -timeout $(LABTIMEOUT) $$pkgs

# Each FuzzXxx target runs for FUZZTIME. A failing input lands in
# <package>/testdata/fuzz/FuzzXxx/ and must be committed with the fix, so
# that plain `go test` keeps replaying it.
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

# One run, both modules: satloop's own benchmarks, then the side-by-side
# ones against Aperture's code, so that every ratio in docs/benchmarks.md
# comes from the same machine at the same time.
bench:
	mkdir -p docs/bench
	{ go test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) ./... && \
	  cd interop/aperture && go test -run='^$$' -bench=. -benchmem -count=$(BENCHCOUNT) ./...; } | tee docs/bench/go-bench.txt
	@if command -v benchstat >/dev/null; then \
		benchstat docs/bench/go-bench.txt; \
	else \
		echo "bench: install golang.org/x/perf/cmd/benchstat for a summary"; \
	fi

# Payment latency over the lab: 50 sequential payments per case, p50 and
# p99, side by side with lncli in the same run.
bench-lab:
	mkdir -p docs/bench
	go test -tags lab -run='^$$' -bench=Pay -benchtime=50x ./lightning/lnd/ | tee docs/bench/lab-bench.txt

# Gateway throughput with wrk, side by side in one run: the upstream
# directly, a bare httputil.ReverseProxy, Aperture v0.4.2 and satloop gate
# (see docs/benchmarks.md). BENCHGATEFLAGS go to the driver, e.g.
# BENCHGATEFLAGS="-rounds 1 -duration 3s".
BENCHGATEFLAGS ?=
bench-gate:
	scripts/bench-gate.sh $(BENCHGATEFLAGS)

# -buildvcs=auto overrides a -buildvcs=false in GOFLAGS, so that
# `satloop version` can report the commit when git is available.
build:
	go build -buildvcs=auto -ldflags "-X github.com/satloop/satloop/internal/cli.version=$(VERSION)" -o bin/satloop ./cmd/satloop
