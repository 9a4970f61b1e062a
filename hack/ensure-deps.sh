# Sourced by the npm entry scripts: installs node_modules with `npm ci` when it is missing
# or older than package-lock.json, and puts the project's Node 24 first on PATH.
root=${root:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
stamp=$root/node_modules/.weir-lock-hash
want=$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)
if [[ ! -x $root/node_modules/.bin/node || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  echo "[weir] installing dependencies (npm ci)" >&2
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$want" >"$stamp"
fi
export PATH=$root/node_modules/.bin:$PATH
