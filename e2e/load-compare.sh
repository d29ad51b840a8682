#!/usr/bin/env bash
# The operator load benchmark (e2e/src/bin/load.rs) for two builds of colo side by side:
# each run on a fresh estate of 16 nodes per member, the builds alternating, so both see the
# same machine at the same time of day. Prints each run's figures and the medians.
#
#   e2e/load-compare.sh BEFORE_BIN AFTER_BIN [ROUNDS]     (default 2 rounds: 4 runs)
#
# docs/benchmarks.md quotes its output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
before=${1:?usage: $0 BEFORE_BIN AFTER_BIN [ROUNDS]}
after=${2:?usage: $0 BEFORE_BIN AFTER_BIN [ROUNDS]}
rounds=${3:-2}
export COLO_ESTATE_DIR=${COLO_ESTATE_DIR:-$repo/.estate-load}
cd "$repo"
"$here/prerequisites.sh"
cargo build --release --quiet -p colo-e2e --bin load
results=$(mktemp)
trap '"$here/estate.sh" down >/dev/null 2>&1 || true; rm -f "$results"' EXIT
for ((r = 1; r <= rounds; r++)); do
  for which in before after; do
    bin=$before
    [[ $which == after ]] && bin=$after
    echo "load-compare: round $r, $which ($bin)" >&2
    COLO_NODES=16 "$here/estate.sh" up >/dev/null
    COLO_BIN=$bin "$here/operator.sh" start
    out=$("$repo/target/release/load")
    echo "$out" | sed "s/^/  $which: /" >&2
    p50=$(grep -o 'p50 [0-9.]*' <<<"$out" | cut -d' ' -f2)
    p99=$(grep -o 'p99 [0-9.]*' <<<"$out" | cut -d' ' -f2)
    rss=$(grep -o 'peak RSS [0-9]*' <<<"$out" | cut -d' ' -f3)
    echo "$which $p50 $p99 $rss" >>"$results"
    "$here/estate.sh" down >/dev/null
  done
done
echo
printf '%-8s %-30s %-30s %-20s\n' build "apply→Placed p50 (s)" "apply→Placed p99 (s)" "peak RSS (MiB)"
for which in before after; do
  python3 - "$results" "$which" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.split()[0] == sys.argv[2]]
col = lambda i: [float(r[i]) for r in rows]
fmt = lambda xs: "median %.2f of %s" % (statistics.median(xs), ", ".join("%g" % x for x in xs))
print("%-8s %-30s %-30s %-20s" % (sys.argv[2], fmt(col(1)), fmt(col(2)), fmt(col(3))))
PY
done
