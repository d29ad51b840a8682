#!/usr/bin/env bash
# Colo's main job on the local estate: bring the estate up, install Colo's API, apply the
# example agencies, clusters and tenancies as their owners would, and show them.
# The estate stays up afterwards; `e2e/estate.sh down` stops it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"

step() { printf '\n==> %s\n' "$*" >&2; }

step "Local estate: hub + north-1 + south-1, kwok nodes, Prometheus (first run builds Kubernetes: ~8 min)"
eval "$("$here/estate.sh" up)"

step "Building colo"
cargo build --release --quiet -p colo-operator
colo=$repo/target/release/colo

step "Installing Colo's CRDs on the hub (colo crds | kubectl apply)"
"$colo" crds | kubectl --context hub apply --server-side --force-conflicts -f -
kubectl --context hub wait --for=condition=Established --timeout=60s -f crds/colo.dev.yaml >/dev/null

step "Applying examples/ (namespaces, agencies, shared clusters, tenancies, a consolidation plan)"
kubectl --context hub apply -f examples/

step "kubectl get colo -A"
kubectl --context hub get colo -A

step "The same estate planned offline (colo plan --snapshot examples/snapshots/local-estate.yaml)"
"$colo" plan --snapshot examples/snapshots/local-estate.yaml

cat >&2 <<MSG

The estate is up. To use it from this shell:
  eval "\$(e2e/estate.sh env)"      # KUBECONFIG (contexts hub, north-1, south-1), PATH, Prometheus
  kubectl get colo -A
  curl -s '$COLO_PROMETHEUS_URL/api/v1/query?query=count(container_cpu_usage_seconds_total)'
Stop it with: e2e/estate.sh down
MSG
