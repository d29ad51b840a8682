#!/usr/bin/env bash
# Colo's main job on the local estate: bring the estate up, start Colo's operator on the hub,
# apply the example agencies, clusters and tenancies as their owners would, wait until the
# tenancies run in the member clusters, and show where and why; then leave an estate spread
# thin and let Colo propose and execute a consolidation, showing what it saved. On the way it
# prints a quote for a prospective agency from its server room's inventory.
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
colo=$("$here/build-colo.sh" --path)   # built by operator.sh, as the image ships it

step "Applying examples/ as agencies and the platform team would (namespaces, agencies, clusters, tenancies)"
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

step "Accounting: the ledger's figures per agency, read by finance with a bearer token (accounting time runs 60 times fast here)"
report=http://127.0.0.1:8080/
# Finance's token (e2e/estate.sh's people); on your own hub: kubectl create token, or a sign-in proxy.
as_finance=(-H "Authorization: Bearer $COLO_REPORT_TOKEN")
# Until ten pence have been accounted for some agency (under a minute at this speed).
until curl -fsS "${as_finance[@]}" "${report}api/v1/agencies" 2>/dev/null |
  python3 -c 'import json, sys; sys.exit(0 if any(a["cost"] >= 0.10 for a in json.load(sys.stdin)) else 1)'; do
  sleep 1
done
echo "Report page: $report   (JSON: ${report}api/v1/agencies, CSV: ${report}api/v1/report?format=csv)"
curl -fsS "${as_finance[@]}" "${report}api/v1/agencies" | python3 -c '
import json, sys
for a in json.load(sys.stdin):
    print("  %s (%s): %.2f %s shared against %.2f standalone since %s, saving %.2f (%.1f%%); %.3f kWh against %.3f"
          % (a["agency"], a["displayName"], a["cost"], a["currency"], a["standaloneCost"], a["from"],
             a["savings"], a["savingsPercent"], a["kWh"], a["standaloneKWh"]))
'
echo "The same question from one of DVLA's engineers (group dvla-platform-engineers) shows DVLA only:"
curl -fsS -H "Authorization: Bearer colo-estate-dvla-dana-token" "${report}api/v1/agencies" |
  python3 -c 'import json, sys; print("  agencies seen:", ", ".join(a["agency"] for a in json.load(sys.stdin)))'
echo "and without a token: $(curl -s -o /dev/null -w '%{http_code}' "${report}api/v1/agencies") (401)"

step "A quote for a prospective agency (Fenland District Council's server room) on the live estate: colo quote --inventory examples/quote/fenland-council.yaml"
"$colo" quote --inventory examples/quote/fenland-council.yaml --rate-window 20s

step "Consolidation: west-1 joins; eight 12-core batch tenancies of the Met Office placed there one by one (two to a node), then half of them end"
kubectl --context hub apply -f examples/21-third-site.yaml
kubectl --context hub wait sharedcluster west-1 --for=condition=Ready --timeout=120s
batch() {
  cat <<YAML
apiVersion: colo.dev/v1alpha1
kind: Tenancy
metadata: {name: batch-$1, namespace: met-office}
spec:
  agency: met-office
  classification: OFFICIAL
  cluster: west-1
  workloads:
  - {name: run, image: registry.example/met-office/batch:1.4, replicas: 1, cpu: "12", memory: 4Gi}
YAML
}
for i in 0 1 2 3 4 5 6 7; do
  batch "$i" | kubectl --context hub apply -f - >/dev/null
  kubectl --context hub -n met-office wait tenancy "batch-$i" --for=jsonpath='{.status.phase}'=Running --timeout=120s >/dev/null
done
kubectl --context hub -n met-office delete tenancy batch-1 batch-3 batch-5 batch-7 --wait=true
watts() { curl -fsS http://127.0.0.1:8081/metrics | awk '/^colo_cluster_power_watts\{cluster="west-1"/ {print $2}'; }
until [[ -n $(watts) ]]; do sleep 1; done
before=$(watts)
echo "west-1 now: 4 nodes, each half used; its IT power: ${before} W"

step "Colo's operator in consolidation mode propose (a look every 5 s here; production: every hour): a ConsolidationPlan"
COLO_CONSOLIDATION_MODE=propose "$here/operator.sh" restart
until plan=$(kubectl --context hub get cpl -o jsonpath='{.items[?(@.status.state=="Proposed")].metadata.name}' 2>/dev/null) && [[ -n $plan ]]; do
  sleep 1
done
kubectl --context hub get cpl "$plan" -o wide
kubectl --context hub get cpl "$plan" -o jsonpath='{range .status.moves[*]}  move {.tenancy} {.workload}: {.from} -> {.to}{"\n"}{end}'

step "The platform team approves it: kubectl patch cpl $plan --type merge -p '{\"spec\":{\"approved\":true}}'"
kubectl --context hub patch cpl "$plan" --type merge -p '{"spec":{"approved":true}}'
until state=$(kubectl --context hub get cpl "$plan" -o jsonpath='{.status.state}') && [[ $state == Done || $state == Superseded || $state == Failed ]]; do
  kubectl --context hub get cpl "$plan" --no-headers
  sleep 5
done
kubectl --context hub get cpl "$plan" -o wide
kubectl --context hub get sharedclusters -o wide
until after=$(watts) && python3 -c "import sys; sys.exit(0 if float('$after') < float('$before') else 1)"; do sleep 1; done
curl -fsS "${as_finance[@]}" "${report}api/v1/consolidation" | python3 -c '
import json, sys
c = json.load(sys.stdin)
print("Consolidation saved %.2f %s and %.1f kWh a month so far, %d nodes in standby (GET /api/v1/consolidation)"
      % (c["savedPerMonth"], c["currency"], c["kWhSavedPerMonth"], c["nodesFreed"]))'
echo "west-1 IT power: ${before} W before, ${after} W after (the freed nodes at standby power)"

cat >&2 <<MSG

The estate is up, with Colo's operator running (log: $COLO_ESTATE_DIR/logs/colo-operator.log). To use it from this shell:
  eval "\$(e2e/estate.sh env)"      # KUBECONFIG (contexts hub, north-1, south-1, west-1), PATH, Prometheus, COLO_REPORT_TOKEN
  kubectl get colo -A
  open http://127.0.0.1:8080/          # the report page: sign in with \$COLO_REPORT_TOKEN (finance) or colo-estate-dvla-dana-token (DVLA)
  curl -s -H "Authorization: Bearer \$COLO_REPORT_TOKEN" http://127.0.0.1:8080/api/v1/estate
  curl -s http://127.0.0.1:8081/metrics   # what Prometheus scrapes; dashboards/ for Grafana
  curl -s '$COLO_PROMETHEUS_URL/api/v1/query?query=count(container_cpu_usage_seconds_total)'
A site loss on this estate: e2e/site-loss.sh   Stop it with: e2e/estate.sh down
MSG
