#!/usr/bin/env bash
# A site goes dark on the demo estate (run e2e/demo.sh first): the third site west-1 joins,
# north-1's API server is frozen (SIGSTOP: connections hang, as when a flood takes a site's
# network), and Colo is watched as it notices, moves what may move, keeps billing only what
# runs, and cleans up when north-1 comes back. The report is checked to add up before and
# after. The estate's operator (e2e/operator.sh) moves work after 45 s and lets a returning
# member settle for 20 s; production defaults are 3 and 2 minutes.
#
#   e2e/site-loss.sh            the whole story, about four minutes
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
eval "$("$here/estate.sh" env)"
report=http://127.0.0.1:8080
dark=north-1

step() { printf '\n==> %s\n' "$*" >&2; }
die() { echo "site-loss: $*" >&2; exit 1; }
curl -fsS http://127.0.0.1:8081/readyz >/dev/null 2>&1 || die "Colo's operator is not running: run e2e/demo.sh first"
kubectl --context hub get tenancy -A -o name | grep -q . || die "no tenancies: run e2e/demo.sh first"

pid=$(cat "$COLO_ESTATE_DIR/pids/$dark-kube-apiserver.pid")
thaw() { kill -CONT "$pid" 2>/dev/null || true; }
trap thaw EXIT

condition() { # cluster type -> "status reason: message"
  kubectl --context hub get shc "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].status} {.status.conditions[?(@.type==\"$2\")].reason}: {.status.conditions[?(@.type==\"$2\")].message}"
}
wait_condition() { # cluster type status timeout
  local deadline=$((SECONDS + $4))
  until [[ $(condition "$1" "$2") == "$3 "* ]]; do
    ((SECONDS < deadline)) || die "$1 $2 not $3 after $4 s: $(condition "$1" "$2")"
    sleep 1
  done
}
# The estate's month: every line and whether they add up to the total.
adds_up() {
  curl -fsS -H "Authorization: Bearer $COLO_REPORT_TOKEN" "$report/api/v1/estate" | python3 -c '
import json, sys
e = json.load(sys.stdin)
rows = e["agencies"] + e["departed"]
for r in rows:
    print("  %-22s %9.3f kWh %8.2f %s" % (r["agency"], r["kWh"], r["cost"], r["currency"]))
parts = sum(r["cost"] for r in rows) + e["spareCost"] + e["unassignedCost"]
print("  %-22s %9.3f kWh %8.2f" % ("spare capacity", e["spareKWh"], e["spareCost"]))
print("  agencies + spare + unassigned = %.2f; the ledger total %.2f %s (as of %s)"
      % (parts, e["totalCost"], e["currency"], e["asOf"]))
sys.exit(0 if abs(parts - e["totalCost"]) <= 0.005 * (len(rows) + 3) else 1)
' || die "the report does not add up"
}

step "A third site joins: west-1 (examples/21-third-site.yaml)"
kubectl --context hub apply -f examples/21-third-site.yaml
wait_condition west-1 Ready True 90
kubectl --context hub get shc
kubectl --context hub get tenancies -A

step "The report before the flood"
adds_up

step "The flood: $dark's API server frozen (kill -STOP $pid)"
kill -STOP "$pid"
started=$SECONDS
wait_condition "$dark" Reachable False 90
echo "$dark: $(condition "$dark" Reachable)   ($((SECONDS - started)) s after the freeze)"
kubectl --context hub get tenancies -A

step "After the failover grace, what may move moves (polling every 5 s)"
# Done when no tenancy free to move (no spec.cluster) lists the dark member as its only home.
until ! kubectl --context hub get tenancies -A \
    -o jsonpath='{range .items[?(@.spec.resilience!="DualSite")]}{.spec.cluster}/{.status.clusters}{"\n"}{end}' |
    grep -qx "/$dark"; do
  ((SECONDS - started < 180)) || die "free SingleSite tenancies still on $dark after 180 s"
  printf '  %3d s: ' "$((SECONDS - started))"
  kubectl --context hub get tenancies -A --no-headers -o custom-columns=T:.metadata.name,P:.status.phase,C:.status.clusters | tr -s ' ' | paste -sd ';' -
  sleep 5
done
kubectl --context hub get tenancies -A -o wide
echo "Why the DualSite tenancy is Degraded (dvla/licensing-api's Available condition):"
kubectl --context hub -n dvla get tenancy licensing-api \
  -o jsonpath='  {.status.conditions[?(@.type=="Available")].message}{"\n"}'


step "Billing through the outage: only what runs is billed; the report still adds up"
adds_up

step "The water goes down: $dark answers again"
thaw
wait_condition "$dark" Reachable True 60
echo "$dark: Ready $(condition "$dark" Ready)"
wait_condition "$dark" Ready True 120
echo "$dark: Ready $(condition "$dark" Ready)   (settled; it takes new placements again)"
echo "Colo's copies in $dark now (moved tenancies' old copies are gone):"
kubectl --context "$dark" get deployments -A -l app.kubernetes.io/managed-by=colo
kubectl --context hub get tenancies -A -o wide
adds_up
echo "west-1 stays in the estate; 'kubectl --context hub delete shc west-1' takes it out."
