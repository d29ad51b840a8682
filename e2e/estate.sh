#!/usr/bin/env bash
# The local estate: a hub and three member clusters at three sites (real etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler; kwok for nodes, pods and usage metrics) and one
# Prometheus scraping every kwok usage endpoint. Plain processes, no Docker.
#
#   e2e/estate.sh up       build (first run only) and start everything, wait until Ready
#   e2e/estate.sh down     stop every process and remove the state directory
#   e2e/estate.sh status   show what is running
#   e2e/estate.sh env      print exports for KUBECONFIG, PATH, the Prometheus URL and finance's
#                          token for Colo's report (COLO_REPORT_TOKEN; others under `people`)
#
# Settings: COLO_ESTATE_DIR (default <repo>/.estate), COLO_NODES (kwok nodes per member, 4),
# COLO_HUB_NODES (2), COLO_CACHE (built binaries, default ~/.cache/colo).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
state=${COLO_ESTATE_DIR:-$repo/.estate}
member_nodes=${COLO_NODES:-4}
hub_nodes=${COLO_HUB_NODES:-2}
prom_addr=127.0.0.10:9090
# name  loopback-ip  site      region    kwok-pod-cidr
clusters=(
  "hub     127.0.0.11 hub-dc   uk-south 10.244.1.0/24"
  "north-1 127.0.0.12 north-dc uk-north 10.244.2.0/24"
  "south-1 127.0.0.13 south-dc uk-south 10.244.3.0/24"
  "west-1  127.0.0.14 west-dc  uk-west  10.244.4.0/24"
)
token=colo-estate-admin-token
# People of the estate, for the report API and the isolation tests: each has a static bearer
# token (colo-estate-<user>-token) and the hub's RBAC decides what they see. user  groups
people=(
  "finance-fiona  colo-finance"             # bound to the chart's colo-finance ClusterRole
  "platform-pat   colo-platform"            # …colo-platform
  "dvla-dana      dvla-platform-engineers"  # examples/10-agencies.yaml
  "met-mo         met-office-ops"
  "hmrc-hari      hmrc-tax-devs"
  "iso-a-alice    iso-a-engineers"          # e2e/tests/isolation.rs
  "iso-b-alice    iso-b-engineers"
  "iso-c-alice    iso-c-engineers"
  "stranger-sam   -"                        # no group: may read nothing
)

log() { echo "estate: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Runs a command detached in its own session, remembering its pid for `down`.
spawn() {
  local name=$1; shift
  mkdir -p "$state/pids" "$state/logs"
  setsid "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! >"$state/pids/$name.pid"
}

# Polls a condition (a command) until it succeeds or the timeout passes.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what not ready after ${timeout}s; logs in $state/logs"
    fi
    sleep 0.5
  done
}

running() {
  local f
  for f in "$state"/pids/*.pid; do
    [[ -e $f ]] && kill -0 "$(cat "$f")" 2>/dev/null && return 0
  done
  return 1
}

make_certs() {
  local dir=$state/pki
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=colo-estate-ca" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
  local line name ip
  for line in "${clusters[@]}"; do
    read -r name ip _ <<<"$line"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver-$name" \
      -keyout "$dir/$name.key" -out "$dir/$name.csr" 2>/dev/null
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
      -days 3650 -out "$dir/$name.crt" \
      -extfile <(printf 'subjectAltName=IP:%s,IP:10.96.0.1,DNS:localhost,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth' "$ip") 2>/dev/null
  done
  local person user groups
  {
    echo "$token,colo-admin,colo-admin,system:masters"
    for person in "${people[@]}"; do
      read -r user groups <<<"$person"
      [[ $groups == - ]] && groups=""
      echo "colo-estate-$user-token,$user,$user,\"$groups\""
    done
  } >"$dir/tokens.csv"
}

write_kubeconfig() {
  local name=$1 ip=$2 file=$3
  local ca
  ca=$(base64 -w0 <"$state/pki/ca.crt")
  cat >"$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: $name
  cluster: {server: "https://$ip:6443", certificate-authority-data: $ca}
users:
- name: $name-admin
  user: {token: $token}
contexts:
- name: $name
  context: {cluster: $name, user: $name-admin}
current-context: $name
KC
}

start_cluster() {
  local name=$1 ip=$2 cidr=$3
  local dir=$state/$name
  mkdir -p "$dir"
  write_kubeconfig "$name" "$ip" "$dir/kubeconfig"
  spawn "$name-etcd" etcd --name "$name" --data-dir "$dir/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
    --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
    --initial-cluster "$name=http://$ip:2380" --listen-metrics-urls "" --log-level warn
  spawn "$name-kube-apiserver" kube-apiserver \
    --etcd-servers "http://$ip:2379" --bind-address "$ip" --advertise-address "$ip" --secure-port 6443 \
    --tls-cert-file "$state/pki/$name.crt" --tls-private-key-file "$state/pki/$name.key" \
    --client-ca-file "$state/pki/ca.crt" --token-auth-file "$state/pki/tokens.csv" \
    --authorization-mode RBAC --service-cluster-ip-range 10.96.0.0/16 \
    --service-account-issuer "https://$ip:6443" --service-account-key-file "$state/pki/sa.pub" \
    --service-account-signing-key-file "$state/pki/sa.key" --endpoint-reconciler-type none \
    --event-ttl 1h
}

start_cluster_controllers() {
  local name=$1 cidr=$2
  local dir=$state/$name
  # Node grace 5m: kwok never reports a pod Ready again once the node controller marked it
  # NotReady, so a member frozen for a minute in the site-loss test would keep unready pods.
  spawn "$name-kube-controller-manager" kube-controller-manager --kubeconfig "$dir/kubeconfig" \
    --authentication-kubeconfig "$dir/kubeconfig" --authorization-kubeconfig "$dir/kubeconfig" \
    --secure-port 0 --leader-elect=false --root-ca-file "$state/pki/ca.crt" \
    --kube-api-qps 200 --kube-api-burst 400 \
    --node-monitor-grace-period 5m \
    --service-account-private-key-file "$state/pki/sa.key" --use-service-account-credentials \
    --controllers '*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller'
  # Bin-packing scoring (MostAllocated) and no default spreading of replicas over nodes, as a
  # consolidating platform runs it: kube-scheduler then fills nodes the way Colo's plan does.
  cat >"$dir/scheduler.yaml" <<SCHED
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: "$dir/kubeconfig", qps: 200, burst: 400}
leaderElection: {leaderElect: false}
profiles:
- schedulerName: default-scheduler
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
        resources: [{name: cpu, weight: 1}, {name: memory, weight: 1}]
  - name: PodTopologySpread
    args: {defaultingType: List, defaultConstraints: []}
SCHED
  spawn "$name-kube-scheduler" kube-scheduler --config "$dir/scheduler.yaml" \
    --authentication-kubeconfig "$dir/kubeconfig" --authorization-kubeconfig "$dir/kubeconfig" \
    --secure-port 0
  local stages=$bin/kwok-kustomize
  spawn "$name-kwok" kwok --kubeconfig "$dir/kubeconfig" --v ERROR --node-lease-duration-seconds 40 \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --server-address "$(cluster_ip "$name"):10247" --cidr "$cidr" --node-ip "$(cluster_ip "$name")" \
    -c "$stages/stage/node/fast/node-initialize.yaml" \
    -c "$stages/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
    -c "$stages/stage/pod/fast/pod-ready.yaml" \
    -c "$stages/stage/pod/fast/pod-complete.yaml" \
    -c "$stages/stage/pod/fast/pod-delete.yaml" \
    -c "$stages/metrics/resource/metrics-resource.yaml" \
    -c "$stages/metrics/usage/usage-from-annotation.yaml"
}

cluster_ip() {
  local line n ip
  for line in "${clusters[@]}"; do
    read -r n ip _ <<<"$line"
    [[ $n == "$1" ]] && { echo "$ip"; return; }
  done
  return 1
}

# kwok nodes the size of a common two-socket server: 32 cores, 128 GiB.
create_nodes() {
  local name=$1 count=$2 site=$3 region=$4 i node
  local manifest=$state/$name/nodes.yaml
  : >"$manifest"
  for ((i = 1; i <= count; i++)); do
    node=$(printf '%s-n%02d' "$name" "$i")
    cat >>"$manifest" <<NODE
---
apiVersion: v1
kind: Node
metadata:
  name: $node
  annotations:
    kwok.x-k8s.io/node: fake
    metrics.k8s.io/resource-metrics-path: /metrics/nodes/$node/metrics/resource
  labels:
    kubernetes.io/hostname: $node
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node.kubernetes.io/instance-type: colo-32c-128g
    topology.kubernetes.io/region: $region
    topology.kubernetes.io/zone: $site
    type: kwok
status:
  allocatable: {cpu: "32", memory: 128Gi, pods: "110"}
  capacity: {cpu: "32", memory: 128Gi, pods: "110"}
NODE
  done
  kubectl --kubeconfig "$state/$name/kubeconfig" apply -f "$manifest" >/dev/null
}

write_prometheus_config() {
  local line name ip
  {
    cat <<PROM
global:
  scrape_interval: 2s
  evaluation_interval: 2s
scrape_configs:
# Colo's own /metrics (e2e/operator.sh serves them there): its counters are the report's history.
- job_name: colo
  static_configs:
  - targets: ['127.0.0.1:8081']
PROM
    for line in "${clusters[@]}"; do
      read -r name ip _ <<<"$line"
      cat <<PROM
- job_name: kwok-$name
  http_sd_configs:
  - url: http://$ip:10247/discovery/prometheus
    refresh_interval: 5s
  relabel_configs:
  - {target_label: cluster, replacement: $name}
  - {source_labels: [__metrics_path__], regex: '/metrics/nodes/([^/]+)/.*', target_label: node}
  - {regex: metrics_name, action: labeldrop}
PROM
    done
  } >"$state/prometheus.yml"
}

combined_kubeconfig() {
  local files=() line name
  for line in "${clusters[@]}"; do
    read -r name _ <<<"$line"
    files+=("$state/$name/kubeconfig")
  done
  (IFS=:; KUBECONFIG="${files[*]}" kubectl config view --flatten) >"$state/kubeconfig"
  kubectl --kubeconfig "$state/kubeconfig" config use-context hub >/dev/null
}

api_ready() { kubectl --kubeconfig "$state/$1/kubeconfig" get --raw /readyz; }
# Every node Ready (one list: `kubectl wait --all` opens a watch per node, too slow for 16+).
nodes_ready() {
  local nodes
  nodes=$(kubectl --kubeconfig "$state/$1/kubeconfig" get nodes \
    -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
  [[ -n $nodes ]] && ! grep -qv '=True$' <<<"$nodes"
}
sa_ready() { kubectl --kubeconfig "$state/$1/kubeconfig" -n default get serviceaccount default; }
prom_ready() { curl -fsS "http://$prom_addr/-/ready"; }
prom_has_targets() {
  local want=$1
  [[ $(curl -fsS "http://$prom_addr/api/v1/query" --data-urlencode 'query=count(up{job=~"kwok-.*"} == 1)' |
        grep -o '"value":\[[^]]*\]' | grep -o '"[0-9]*"]' | tr -dc 0-9) -ge $want ]]
}

print_env() {
  echo "export PATH=\"$bin:\$PATH\""
  echo "export KUBECONFIG=\"$state/kubeconfig\""
  echo "export COLO_ESTATE_DIR=\"$state\""
  echo "export COLO_PROMETHEUS_URL=\"http://$prom_addr\""
  echo "# finance's bearer token for Colo's report (curl -H \"Authorization: Bearer \$COLO_REPORT_TOKEN\")"
  echo "export COLO_REPORT_TOKEN=colo-estate-finance-fiona-token"
}

up() {
  if running; then
    log "already up ($state); 'e2e/estate.sh down' first to start afresh"
    print_env
    return
  fi
  rm -rf "$state"
  mkdir -p "$state"
  ln -s "$bin" "$state/bin"
  local started=$SECONDS
  make_certs
  local line name ip site region cidr
  for line in "${clusters[@]}"; do
    read -r name ip site region cidr <<<"$line"
    start_cluster "$name" "$ip" "$cidr"
  done
  for line in "${clusters[@]}"; do
    read -r name ip site region cidr <<<"$line"
    wait_for "$name kube-apiserver" 90 api_ready "$name"
    start_cluster_controllers "$name" "$cidr"
    local count=$member_nodes
    [[ $name == hub ]] && count=$hub_nodes
    create_nodes "$name" "$count" "$site" "$region"
  done
  write_prometheus_config
  spawn prometheus prometheus --config.file "$state/prometheus.yml" \
    --storage.tsdb.path "$state/prometheus" --web.listen-address "$prom_addr" \
    --storage.tsdb.retention.time 1d --web.enable-lifecycle
  combined_kubeconfig
  local total=0
  for line in "${clusters[@]}"; do
    read -r name _ <<<"$line"
    wait_for "$name nodes" 180 nodes_ready "$name"
    wait_for "$name default service account" 60 sa_ready "$name"
    total=$((total + $(kubectl --kubeconfig "$state/$name/kubeconfig" get nodes -o name | wc -l)))
  done
  wait_for prometheus 60 prom_ready
  wait_for "prometheus scraping all $total nodes" 60 prom_has_targets "$total"
  log "up in $((SECONDS - started))s: ${#clusters[@]} clusters, $total kwok nodes, Prometheus at http://$prom_addr"
  log "kubeconfigs: $state/kubeconfig (contexts hub, north-1, south-1, west-1); one per cluster in $state/<name>/kubeconfig"
  log "logs: $state/logs; stop with: e2e/estate.sh down"
  print_env
}

down() {
  local f pid
  shopt -s nullglob
  # Stop in reverse order of dependency: clients before API servers before etcd.
  for pattern in colo-operator prometheus '*-kwok' '*-kube-scheduler' '*-kube-controller-manager' '*-kube-apiserver' '*-etcd'; do
    for f in "$state"/pids/$pattern.pid; do
      [[ -e $f ]] || continue
      pid=$(cat "$f")
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for f in "$state"/pids/$pattern.pid; do
      [[ -e $f ]] || continue
      pid=$(cat "$f")
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      rm -f "$f"
    done
  done
  # Anything still holding a path of the estate (e.g. a pid file lost) goes too.
  pkill -KILL -f -- "$state/" 2>/dev/null || true
  rm -rf "$state"
  log "down: no estate process left"
}

status() {
  shopt -s nullglob
  local f any=0 total=0 rss
  for f in "$state"/pids/*.pid; do
    any=1
    local name pid
    name=$(basename "$f" .pid); pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      rss=$(ps -o rss= -p "$pid" | tr -d ' ')
      total=$((total + rss))
      printf '%-36s running  pid %-8s rss %6d MiB\n' "$name" "$pid" "$((rss / 1024))"
    else
      printf '%-36s STOPPED  (see %s)\n' "$name" "$state/logs/$name.log"
    fi
  done
  if ((any)); then
    printf '%-36s          total        %6d MiB\n' "estate" "$((total / 1024))"
  else
    echo "no estate at $state"
  fi
}

case ${1:-} in
  up|env) bin=$("$here/build.sh"); export PATH="$bin:$PATH" ;;
esac
case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  env) print_env ;;
  *) echo "usage: $0 up|down|status|env" >&2; exit 2 ;;
esac
