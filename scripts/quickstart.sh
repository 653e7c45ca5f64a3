#!/usr/bin/env bash
# The README's first command: installs what is missing (Node 24 from the npm
# registry, the npm dependencies) and starts the App on the embedded default,
# the Docker runtime with Caddy, serving apps under *.localhost.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-node.sh
if [ "${1:-}" = "--node-only" ]; then
  echo "Node $(node --version) is ready. Put it on your PATH with:"
  echo "  export PATH=\"$PWD/.tools/node/bin:\$PATH\""
  exit 0
fi
if [ ! -d node_modules/probot ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
exec node bin/paas.js start "$@"
