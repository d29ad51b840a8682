#!/usr/bin/env bash
# Every test of Colo: formatting and lints, unit and property tests, the CRD sync check, and
# the end-to-end tests on a real local estate (started here and stopped afterwards unless it
# was already up). Exit status is non-zero if anything fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
export COLO_ESTATE_DIR=${COLO_ESTATE_DIR:-$repo/.estate}

results=$(mktemp)
trap 'rm -f "$results"' EXIT
# Runs cargo test, keeping its "test result:" lines for the closing count.
cargo_test() { cargo test --quiet "$@" 2>&1 | tee -a "$results"; }
step() { printf '\n==> %s\n' "$*" >&2; }
keep_logs() {
  local kept=$repo/target/e2e-artifacts/estate-logs
  rm -rf "$kept" && mkdir -p "$kept" && cp -r "$COLO_ESTATE_DIR/logs/." "$kept/" 2>/dev/null &&
    echo "test.sh: the estate's logs are kept in $kept" >&2
}
fail() { echo "test.sh: FAILED: $*" >&2; exit 1; }

"$here/prerequisites.sh"
for tool in cargo go prometheus openssl curl python3 node chromium; do
  command -v "$tool" >/dev/null || fail "$tool is missing (Rust, Go, Python and Node come with the machine; e2e/prerequisites.sh installs the rest)"
done

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "Unit, property and CRD-sync tests"
cargo_test

step "The API crate builds and tests without Kubernetes (what the engine sees)"
cargo_test -p colo-api --no-default-features

step "The engine depends on no Kubernetes, async runtime or clock crate"
if cargo tree -p colo-engine -e normal --prefix none | grep -E '^(kube|k8s-openapi|tokio|chrono)'; then
  fail "colo-engine pulls in a crate it must not (above)"
fi

step "End-to-end tests on the local estate"
started_here=0
if ! "$here/estate.sh" status 2>/dev/null | grep -q running; then
  started_here=1
  # A failure keeps the estate's logs (the operator's among them) for whoever reads the CI run.
  trap 'status=$?; if ((status)); then keep_logs; fi; "$here/estate.sh" down; rm -f "$results"' EXIT
  "$here/estate.sh" up >/dev/null
fi
step "Colo's operator on the estate"
"$here/operator.sh" restart   # the binary just built, even if one was already running
cargo_test -p colo-e2e

if ((started_here)); then
  trap 'rm -f "$results"' EXIT
  step "Estate teardown leaves no process behind"
  "$here/estate.sh" down
  if pgrep -af -- "$COLO_ESTATE_DIR/"; then
    fail "processes of the estate survived 'e2e/estate.sh down' (above)"
  fi
fi
step "All tests passed"
awk '/^test result:/ {p += $4; f += $6} END {printf "colo: %d passed, %d failed\n", p, f}' "$results"
