#!/usr/bin/env bash
# Runs Weir's e2e suite against a kind cluster instead of the local process environment.
# Needs Docker (or Podman) and Go. kind is built from the Go module proxy and cached.
#
#   hack/kind-e2e.sh            create a cluster, run the e2e tests, delete the cluster
#   KEEP_CLUSTER=1 hack/kind-e2e.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${WEIR_CACHE:-$HOME/.cache/weir}
kind_version=${KIND_VERSION:-v0.33.0}
kind=$cache/kind/$kind_version/bin/kind
if [[ ! -x $kind ]]; then
  echo "[weir kind-e2e] building kind $kind_version" >&2
  GOBIN=$(dirname "$kind") go install "sigs.k8s.io/kind@$kind_version"
fi
cluster=${KIND_CLUSTER:-weir-e2e}
kubeconfig=$(mktemp)
cleanup() {
  [[ ${KEEP_CLUSTER:-} == 1 ]] || "$kind" delete cluster --name "$cluster" >/dev/null 2>&1 || true
  rm -f "$kubeconfig"
}
trap cleanup EXIT
"$kind" create cluster --name "$cluster" --kubeconfig "$kubeconfig" --wait 120s
# The e2e tests find the cluster through KUBECONFIG and start only the backends locally.
KUBECONFIG=$kubeconfig npm --prefix "$root" run test:e2e
