#!/usr/bin/env bash
# Runs Colo's operator against the local estate (e2e/estate.sh up first), as the platform
# team would run it on a hub, with least privilege: the chart's CRDs, roles and admission
# policies installed (charts/colo, without its Deployment), `colo operator` run here as the
# chart's ServiceAccount (a token kubeconfig) and in each member as the identity
# charts/colo/member/rbac.yaml binds (and admission.yaml fences); leader election; the report on 127.0.0.1:8080 (bearer
# tokens: e2e/estate.sh's people), /metrics, /healthz and /readyz on 127.0.0.1:8081.
#
#   e2e/operator.sh start     build if needed, install, start, wait until /readyz answers
#   e2e/operator.sh stop      SIGTERM, wait for a clean exit
#   e2e/operator.sh kill      SIGKILL (for crash tests)
#   e2e/operator.sh restart
#
# Logs: $COLO_ESTATE_DIR/logs/colo-operator.log. `e2e/estate.sh down` stops it too.
# COLO_BIN runs another build of colo (e.g. an older one, for e2e/load-compare.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${COLO_ESTATE_DIR:-$repo/.estate}
pidfile=$state/pids/colo-operator.pid
addr=${COLO_HTTP_ADDR:-127.0.0.1:8080}
metrics_addr=${COLO_METRICS_ADDR:-127.0.0.1:8081}
[[ -e $state/kubeconfig ]] || { echo "operator: no estate at $state; run e2e/estate.sh up" >&2; exit 1; }
export KUBECONFIG=$state/kubeconfig
kubectl() { "$state/bin/kubectl" --context hub "$@"; }
# shellcheck source=versions.env
source "$here/versions.env"
colo=${COLO_BIN:-$("$here/build-colo.sh" --path)}

install() {
  # Tests restart it while cargo holds the build lock: COLO_NO_BUILD=1 uses the binary as built.
  if [[ -z ${COLO_BIN:-} ]]; then
    # Cargo shows its progress (a cold build takes minutes).
    # The static build the image ships (e2e/build-colo.sh).
    [[ -n ${COLO_NO_BUILD:-} && -x $colo ]] || "$here/build-colo.sh" >/dev/null
  fi
  [[ -x $state/bin/helm ]] || { echo "operator: no helm in $state/bin; run e2e/estate.sh down && e2e/estate.sh up" >&2; exit 1; }
  # CRDs as charts/colo/README.md says to upgrade them (Helm installs a chart's crds/ only once).
  kubectl apply --server-side --force-conflicts -f "$repo/charts/colo/crds/" >/dev/null
  kubectl wait --for=condition=Established --timeout=60s -f "$repo/charts/colo/crds/" >/dev/null
  kubectl create namespace colo-system --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  # The chart's identity, roles and admission policies, without its Deployment: the operator
  # runs here, out of cluster, as the chart's ServiceAccount (README, "Install on your own
  # clusters (Helm)", last paragraph).
  local secrets=north-1-kubeconfig,south-1-kubeconfig,west-1-kubeconfig
  # (Helm says it follows the chart's links to crds/ and dashboards/; that is meant.)
  "$state/bin/helm" template colo "$repo/charts/colo" --namespace colo-system --kube-version "$K8S_VERSION" \
    --set deployment.enabled=false --set "members.kubeconfigSecrets={$secrets}" \
    --set "rbac.financeGroups={colo-finance}" --set "rbac.platformGroups={colo-platform}" 2> >(grep -v 'found symbolic link' >&2) |
    kubectl apply --server-side --force-conflicts -f - >/dev/null
  token_kubeconfig hub colo-system colo >"$state/operator.kubeconfig"
  # In each member, the documented member role, bound to a ServiceAccount whose token is the
  # kubeconfig in the member's Secret, and the admission policies that keep that identity to
  # Colo's own namespaces. Once per estate: tests restart the operator while a member is
  # frozen, and a restart must not wait for it.
  local member
  for member in north-1 south-1 west-1; do
    if [[ ! -s $state/$member/operator.kubeconfig ]]; then
      "$state/bin/kubectl" --kubeconfig "$state/$member/kubeconfig" apply --server-side --force-conflicts \
        -f "$repo/charts/colo/member/rbac.yaml" -f "$repo/charts/colo/member/admission.yaml" >/dev/null
      token_kubeconfig "$member" colo-system colo-operator >"$state/$member/operator.kubeconfig.new"
      mv "$state/$member/operator.kubeconfig.new" "$state/$member/operator.kubeconfig"
    fi
    # The fence of Colo's member identity, on estates made before it existed too (once: a
    # frozen member must not hold a restart up).
    if [[ ! $state/$member/admission.applied -nt $repo/charts/colo/member/admission.yaml ]] &&
      "$state/bin/kubectl" --kubeconfig "$state/$member/kubeconfig" --request-timeout=10s apply --server-side \
        --force-conflicts -f "$repo/charts/colo/member/admission.yaml" >/dev/null; then
      touch "$state/$member/admission.applied"
    fi
    kubectl -n colo-system create secret generic "$member-kubeconfig" \
      --from-file=kubeconfig="$state/$member/operator.kubeconfig" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  done
}

# A kubeconfig for ServiceAccount $2/$3 of estate cluster $1, with a day's token (the estate
# lives for a test run).
token_kubeconfig() {
  local name=$1 ns=$2 account=$3
  local k=("$state/bin/kubectl" --kubeconfig "$state/$name/kubeconfig")
  local server ca token
  server=$("${k[@]}" config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$("${k[@]}" config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  token=$("${k[@]}" -n "$ns" create token "$account" --duration 24h)
  cat <<YAML
apiVersion: v1
kind: Config
clusters: [{name: $name, cluster: {server: "$server", certificate-authority-data: "$ca"}}]
users: [{name: $ns-$account, user: {token: "$token"}}]
contexts: [{name: $name, context: {cluster: $name, user: $ns-$account}}]
current-context: $name
YAML
}

running() { [[ -e $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  if running; then echo "operator: already running (pid $(cat "$pidfile"))" >&2; return; fi
  install
  mkdir -p "$state/pids" "$state/logs"
  # Each minute accounts an hour of use, so figures grow visibly in a test (times stay the
  # wall clock's).
  # Revocations happen within seconds in tests (production waits 5 minutes). An older build
  # run with COLO_BIN (e2e/load-compare.sh) may not know the flag.
  # A lost member's tenancies move after 45 s, and a member back from an outage takes new
  # placements after 20 s (production: 3 and 2 minutes).
  local grace=(--revocation-grace-seconds 10 --failover-grace-seconds 45 --member-settle-seconds 20)
  # Consolidation is off unless a test (or the demo) asks: COLO_CONSOLIDATION_MODE=propose|auto,
  # with COLO_CONSOLIDATION_ARGS for its other flags. It looks at the estate every 5 s.
  grace+=(--consolidation-interval-seconds "${COLO_CONSOLIDATION_INTERVAL:-5}")
  read -r -a consolidation <<<"${COLO_CONSOLIDATION_ARGS:-}"
  grace+=("${consolidation[@]}")
  [[ -z ${COLO_BIN:-} ]] || grace=()
  KUBECONFIG=$state/operator.kubeconfig COLO_CONSOLIDATION_MODE=${COLO_CONSOLIDATION_MODE:-off} COLO_HTTP_ADDR=$addr COLO_METRICS_ADDR=$metrics_addr setsid "$colo" operator --rate-window 20s \
    --accounting-interval-seconds 5 --accounting-speed 60 \
    "${grace[@]}" \
    --history-prometheus-url "http://127.0.0.10:9090" \
    >>"$state/logs/colo-operator.log" 2>&1 < /dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + 60))
  # (Builds before the report was authenticated served /readyz on the report's port.)
  until curl -fsS "http://$metrics_addr/readyz" >/dev/null 2>&1 || { [[ -n ${COLO_BIN:-} ]] && curl -fsS "http://$addr/readyz" >/dev/null 2>&1; }; do
    running || { echo "operator: exited; see $state/logs/colo-operator.log" >&2; exit 1; }
    ((SECONDS < deadline)) || { echo "operator: not ready after 60s" >&2; exit 1; }
    sleep 0.2
  done
  echo "operator: running (pid $(cat "$pidfile")), report http://$addr/, http://$metrics_addr/metrics, log $state/logs/colo-operator.log" >&2
}

stop() {
  local signal=$1
  running || { rm -f "$pidfile"; return; }
  local pid
  pid=$(cat "$pidfile")
  kill "-$signal" "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case ${1:-} in
  start) start ;;
  stop) stop TERM ;;
  kill) stop KILL ;;
  restart) stop TERM; start ;;
  *) echo "usage: $0 start|stop|kill|restart" >&2; exit 2 ;;
esac
