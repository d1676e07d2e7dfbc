#!/usr/bin/env bash
# Runs every fuzz target of the module, one `go test -fuzz` per target
# because Go fuzzes a single target per invocation.
#
# Usage: scripts/fuzz.sh [fuzztime]   (default 5s; `make fuzz FUZZTIME=1m`)
#
# When a target fails, go writes the failing input under
# <package>/testdata/fuzz/<FuzzName>/. Commit that file with the fix: from
# then on plain `go test` replays it as a regression test.
set -euo pipefail

fuzztime=${1:-5s}
cd "$(dirname "$0")/.."

# "dir name" pairs from lines like "./l402/challenge_test.go:func FuzzParse(".
targets=$(grep -rEo --include='*_test.go' --exclude-dir=.git '^func Fuzz[A-Za-z0-9_]*\(' . |
	sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u) || true

if [[ -z $targets ]]; then
	echo "fuzz: no fuzz targets found"
	exit 0
fi

while read -r dir name; do
	echo "fuzz: $name in $dir for $fuzztime"
	go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$dir"
done <<<"$targets"
