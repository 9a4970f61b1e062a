#!/usr/bin/env bash
# The test entry point behind `npm test` and its parts.
#
#   hack/test.sh all          generated files, lint, format, typecheck, then unit, integration and
#                             e2e tests in one local environment (the default)
#   hack/test.sh unit|integration|e2e|flink|lint|typecheck|generated
#
# Unit tests are *.test.ts beside the code; integration tests are *.integration.test.ts
# and talk to real Kafka, Redis and PostgreSQL; e2e tests live in e2e/ and talk to a real
# API server. Integration and e2e tests run inside `hack/local-env/cli.ts run`, which
# starts those programs (or, for Kubernetes, uses the cluster in KUBECONFIG when set).
# Tests named *.flink.test.ts need a Flink session cluster too: they run in an environment
# of their own, so that the other tests never wait for Flink's three JVMs.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=ensure-deps.sh
source "$root/hack/ensure-deps.sh"
cd "$root"

tracked_ts() { git ls-files --cached --others --exclude-standard -- "$@" | sort; }
unit_files() { tracked_ts '*.test.ts' | grep -v '\.integration\.test\.ts$' | grep -v '\.flink\.test\.ts$' | grep -v '^e2e/'; }
integration_files() { tracked_ts '*.integration.test.ts'; }
e2e_files() { tracked_ts 'e2e/*.test.ts' | grep -v '\.flink\.test\.ts$'; }
flink_files() { tracked_ts '*.flink.test.ts'; }

# A hung test fails after five minutes instead of stalling the run. Tests that share the
# local environment run one file at a time: some of them stop and start its servers.
node_test=(node --test --test-reporter=spec --test-timeout=300000)
serial=("${node_test[@]}" --test-concurrency=1)
in_env() { node hack/local-env/cli.ts run --with all -- "$@"; }
in_flink_env() { node hack/local-env/cli.ts run --with all,flink -- "$@"; }

failed=()
step() {
  local name=$1; shift
  echo "── $name" >&2
  "$@" || failed+=("$name")
}

stage=${1:-all}
case $stage in
  generated) step 'generated files' node hack/generate-crds.ts --check ;;
  lint)
    step lint eslint --max-warnings=0 .
    step format prettier --check --log-level=warn .
    ;;
  typecheck) step typecheck tsc -p tsconfig.json ;;
  unit) step 'unit tests' "${node_test[@]}" $(unit_files) ;;
  integration) step 'integration tests' in_env "${serial[@]}" $(integration_files) ;;
  e2e) step 'e2e tests' in_env "${serial[@]}" $(e2e_files) ;;
  flink) step 'flink tests' in_flink_env "${serial[@]}" $(flink_files) ;;
  all)
    step 'generated files' node hack/generate-crds.ts --check
    step lint eslint --max-warnings=0 .
    step format prettier --check --log-level=warn .
    step typecheck tsc -p tsconfig.json
    # One environment for every test: unit tests do not use it, and starting it once saves time.
    step 'unit, integration and e2e tests' in_env "${serial[@]}" \
      $(unit_files) $(integration_files) $(e2e_files)
    step 'flink tests' in_flink_env "${serial[@]}" $(flink_files)
    ;;
  *) echo "unknown stage: $stage" >&2; exit 2 ;;
esac

if ((${#failed[@]})); then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
