#!/usr/bin/env bash
# Builds the local estate's binaries from the Go module proxy, once per version.
# Output: $COLO_CACHE/bin/<version>/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,etcd,kwok,helm}
# Usage: e2e/build.sh            (prints the bin directory on stdout when done)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
cache=${COLO_CACHE:-$HOME/.cache/colo}
export GOFLAGS=-mod=mod CGO_ENABLED=0
log() { echo "build: $*" >&2; }
# Runs a build step, saying when it starts and how long it took.
timed() {
  local what=$1 started=$SECONDS; shift
  log "$what: building"
  "$@"
  log "$what: built in $(( (SECONDS - started) / 60 ))m $(( (SECONDS - started) % 60 ))s"
}

build_kubernetes() {
  local out=$cache/bin/kubernetes-$K8S_VERSION
  if [[ -x $out/kubectl && -x $out/kube-apiserver && -x $out/kube-controller-manager && -x $out/kube-scheduler ]]; then
    echo "$out"; return
  fi
  log "kubernetes $K8S_VERSION: building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (cold: about 8 min on 2 cores, once per version)"
  local work=$cache/src/kubernetes-$K8S_VERSION
  mkdir -p "$work" "$out"
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  local staging_version=v0.${K8S_VERSION#v1.}
  # The module requires its staging modules at v0.0.0 with replaces to ./staging;
  # a wrapper module replaces each with its published v0.X.Y twin.
  go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >"$work/download.json"
  local gomod
  gomod=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["GoMod"])' "$work/download.json")
  {
    echo "module colo.dev/estate-kubernetes"
    echo
    grep -E '^go ' "$gomod"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    echo "replace ("
    grep -E '=> \./staging/' "$gomod" | awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$work/go.mod"
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  local ld=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  timed "kubernetes $K8S_VERSION" bash -c "cd '$work' && go mod tidy && go build -trimpath \
    -ldflags '-s -w $ld' -o '$out/' k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl"
  echo "$out"
}

build_etcd() {
  local out=$cache/bin/etcd-$ETCD_VERSION
  if [[ -x $out/etcd ]]; then echo "$out"; return; fi

  local work=$cache/src/etcd-$ETCD_VERSION
  mkdir -p "$work" "$out"
  cat >"$work/go.mod" <<GO
module colo.dev/estate-etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GO
  cat >"$work/main.go" <<'GO'
// etcd's own main does only this.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  timed "etcd $ETCD_VERSION" bash -c "cd '$work' && go mod tidy >/dev/null && go build -trimpath -ldflags '-s -w' -o '$out/etcd' ."
  echo "$out"
}

build_kwok() {
  local out=$cache/bin/kwok-$KWOK_VERSION
  if [[ -x $out/kwok ]]; then echo "$out"; return; fi
  mkdir -p "$out"
  timed "kwok $KWOK_VERSION" env GOBIN="$out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  echo "$out"
}

build_helm() {
  local out=$cache/bin/helm-$HELM_VERSION
  if [[ -x $out/helm ]]; then echo "$out"; return; fi
  mkdir -p "$out"
  timed "helm $HELM_VERSION" env GOBIN="$out" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  echo "$out"
}

# The bin directory gathers links to every built binary so callers need one PATH entry.
bin=$cache/bin/estate-$K8S_VERSION
mkdir -p "$bin"
for dir in $(build_kubernetes) $(build_etcd) $(build_kwok) $(build_helm); do
  ln -sf "$dir"/* "$bin/"
done
# kwok's stage files live in its module source; link them next to the binaries.
kwok_src=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION
[[ -d $kwok_src/kustomize ]] || (cd /tmp && go mod download "sigs.k8s.io/kwok@$KWOK_VERSION")
ln -sfn "$kwok_src/kustomize" "$bin/kwok-kustomize"
echo "$bin"
