#!/usr/bin/env bash
# Gateway throughput, side by side in one run on loopback: wrk against a
# trivial upstream directly, through a bare httputil.ReverseProxy (Go's
# default transport, a tuned one, and tuned with pooled copy buffers),
# through Aperture v0.4.2 and through `satloop gate`, the last two with one
# paid token reused; then latency one request at a time, the targets
# interleaved. Raw output goes to docs/bench/gate-bench.txt, a summary
# table to stdout.
#
#   scripts/bench-gate.sh                 # 3 rounds, wrk -t2 -c32 -d10s
#   scripts/bench-gate.sh -rounds 1 -duration 3s   # a quick look
#
# Arguments are passed to the Go driver (internal/benchcmd/gatebench; see
# its -help). It uses the lab in $SATLOOP_LAB_DIR (or the default one) when
# it is up, else starts one for the run and stops it afterwards. It installs
# wrk with apt-get when missing and builds Aperture on first use (about 3
# minutes, cached with the lab's binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
	echo "bench-gate: installing wrk with apt-get" >&2
	sudo=""
	[[ $(id -u) -eq 0 ]] || sudo=sudo
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq wrk >/dev/null
fi

bin=$(mktemp -d)
own_lab=""
cleanup() {
	if [[ -n $own_lab ]]; then
		"$bin/satloop" lab down --dir "$own_lab" >/dev/null || true
		rm -rf "$own_lab"
	fi
	rm -rf "$bin"
}
trap cleanup EXIT

go build -o "$bin/" ./cmd/satloop ./internal/benchcmd/benchupstream ./internal/benchcmd/benchproxy ./internal/benchcmd/gatebench

lab_dir=${SATLOOP_LAB_DIR:-}
lab_args=()
[[ -z $lab_dir ]] || lab_args=(--dir "$lab_dir")
status=$("$bin/satloop" lab status --json "${lab_args[@]}")
if grep -Eq '"ready": ?true' <<<"$status"; then
	lab_dir=$(sed -nE 's/^ *"dir": ?"(.*)",?$/\1/p' <<<"$status" | head -1)
	echo "bench-gate: using the lab in $lab_dir" >&2
else
	own_lab=$(mktemp -d -t satloop-bench-lab-XXXXXX)
	lab_dir=$own_lab
	echo "bench-gate: starting a lab in $lab_dir for this run" >&2
	"$bin/satloop" lab up --dir "$lab_dir" >/dev/null
fi

gate_args=()
# Cobra answers --help of an unknown command with the root's help: look
# for the command's own usage line.
if "$bin/satloop" gate --help 2>/dev/null | grep -q '^  satloop gate'; then
	gate_args=(-satloop-bin "$bin/satloop")
else
	echo "bench-gate: this satloop has no 'gate' command; measuring the others only" >&2
fi

"$bin/gatebench" -lab-dir "$lab_dir" \
	-upstream-bin "$bin/benchupstream" -proxy-bin "$bin/benchproxy" \
	"${gate_args[@]}" "$@"
