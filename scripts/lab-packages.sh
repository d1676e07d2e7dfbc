#!/usr/bin/env bash
# Prints the packages that hold lab integration tests (test files with the
# `lab` build tag), for `make lab-test`.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' --exclude-dir=.git '^//go:build lab' . |
	xargs -r -n1 dirname | sort -u
