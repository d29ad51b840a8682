#!/usr/bin/env bash
# Colo's main job on the local estate: bring the estate up, start Colo's operator on the hub,
# apply the example agencies, clusters and tenancies as their owners would, wait until the
# tenancies run in the member clusters, and show where and why.
# The estate stays up afterwards; `e2e/estate.sh down` stops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

step() { printf '\n==> %s\n' "$*" >&2; }

"$here/prerequisites.sh"

step "Local estate: hub + north-1 + south-1 (+ west-1, a third site for e2e/site-loss.sh), kwok nodes, Prometheus (first run builds Kubernetes: ~8 min)"
eval "$("$here/estate.sh" up)"

step "Colo's operator on the hub: CRDs (colo crds | kubectl apply), member kubeconfig Secrets, colo operator"
"$here/operator.sh" start
colo=$repo/target/release/colo

step "Applying examples/ as agencies and the platform team would (namespaces, agencies, clusters, tenancies)"
# examples/40-consolidation-plan.yaml waits for the consolidation controller; not applied here.
kubectl --context hub apply -f examples/00-namespaces.yaml -f examples/10-agencies.yaml \
  -f examples/20-shared-clusters.yaml -f examples/30-tenancies.yaml

step "Waiting until every tenancy runs in its member clusters"
kubectl --context hub wait tenancy --all -A --for=jsonpath='{.status.phase}'=Running --timeout=120s

step "kubectl get colo -A"
kubectl --context hub get colo -A

step "Where they run and why (kubectl get tenancies -A -o wide)"
kubectl --context hub get tenancies -A -o wide

step "The live estate replayed offline: colo snapshot > snapshot.yaml; colo plan --snapshot snapshot.yaml"
"$colo" snapshot >"$COLO_ESTATE_DIR/snapshot.yaml"
"$colo" plan --snapshot "$COLO_ESTATE_DIR/snapshot.yaml"

step "Accounting: the ledger's figures per agency (accounting time runs 60 times fast here)"
report=http://127.0.0.1:8080/
# Until ten pence have been accounted for some agency (under a minute at this speed).
until curl -fsS "${report}api/v1/agencies" 2>/dev/null |
  python3 -c 'import json, sys; sys.exit(0 if any(a["cost"] >= 0.10 for a in json.load(sys.stdin)) else 1)'; do
  sleep 1
done
echo "Report page: $report   (JSON: ${report}api/v1/agencies, CSV: ${report}api/v1/report?format=csv)"
curl -fsS "${report}api/v1/agencies" | python3 -c '
import json, sys
for a in json.load(sys.stdin):
    print("  %s (%s): %.2f %s shared against %.2f standalone since %s, saving %.2f (%.1f%%); %.3f kWh against %.3f"
          % (a["agency"], a["displayName"], a["cost"], a["currency"], a["standaloneCost"], a["from"],
             a["savings"], a["savingsPercent"], a["kWh"], a["standaloneKWh"]))
'

cat >&2 <<MSG

The estate is up, with Colo's operator running (log: $COLO_ESTATE_DIR/logs/colo-operator.log). To use it from this shell:
  eval "\$(e2e/estate.sh env)"      # KUBECONFIG (contexts hub, north-1, south-1, west-1), PATH, Prometheus
  kubectl get colo -A
  open http://127.0.0.1:8080/          # the report page; dashboards/ for Grafana
  curl -s '$COLO_PROMETHEUS_URL/api/v1/query?query=count(container_cpu_usage_seconds_total)'
A site loss on this estate: e2e/site-loss.sh   Stop it with: e2e/estate.sh down
MSG
