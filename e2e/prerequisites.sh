#!/usr/bin/env bash
# Installs what the estate and the tests need from Debian's packages, when missing:
# Prometheus (the measured-usage source), openssl (the estate's certificates), curl,
# Chromium (the report page's browser test); and playwright-core from npm (e2e/page).
# Rust, Go and Python come with the machine; everything else is built by e2e/build.sh.
set -euo pipefail
missing=()
for pkg in prometheus openssl curl ca-certificates chromium; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "prerequisites: installing ${missing[*]} (apt-get)" >&2
  sudo=""
  [[ $(id -u) == 0 ]] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if command -v rustup >/dev/null; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
if [[ ! -d "$(dirname "$0")/page/node_modules/playwright-core" ]]; then
  echo "prerequisites: installing playwright-core (npm ci in e2e/page)" >&2
  (cd "$(dirname "$0")/page" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
