#!/usr/bin/env bash
# Runs a TypeScript entry point on the project's own Node 24 (the `node` package in
# node_modules), installing the dependencies first when they are missing or stale, so
# that `npm run ...` works from a fresh clone on a machine whose node is older.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=ensure-deps.sh
source "$root/hack/ensure-deps.sh"
exec "$root/node_modules/.bin/node" "$@"
