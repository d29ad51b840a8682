#!/usr/bin/env bash
# Builds `colo` as the end-to-end tests run it and the image ships it (Dockerfile): release,
# statically linked (glibc's static libc via crt-static; TLS is rustls and ring, so no
# OpenSSL), for this machine's target. Prints the binary's path; progress goes to stderr.
#
#   e2e/build-colo.sh          build (incrementally), print the path
#   e2e/build-colo.sh --path   only print the path
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
host=$(rustc -vV | sed -n 's/^host: //p')
binary=$repo/target/$host/release/colo
if [[ ${1:-} != --path ]]; then
  # Only this target's crates are linked statically: build scripts and proc-macros run on the
  # host as usual (rustflags for the target apply to it alone when --target is given).
  flags_var=CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<<"$host")_RUSTFLAGS
  export "$flags_var=-C target-feature=+crt-static"
  # Small: no debug info, but symbol names stay, so a panic's backtrace names its functions.
  export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=debuginfo
  (cd "$repo" && cargo build --release --locked -p colo-operator --target "$host" >&2)
fi
echo "$binary"
