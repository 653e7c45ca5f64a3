#!/usr/bin/env bash
# The README's first command: sets up what the embedded default needs (Node 24,
# the npm dependencies, the Docker engine, Caddy: scripts/setup.sh quickstart),
# then starts the App on it: the Docker runtime with a Caddy of its own, apps
# under *.localhost. A user who is not root is asked (sudo) for the firewall
# rule that keeps apps with network.egress none off the host. `--node-only`
# sets up Node alone and says how to use it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--node-only" ]; then
  bash scripts/setup.sh node
  source scripts/ensure-node.sh
  if [ "$(command -v node)" = "$PWD/.tools/node/bin/node" ]; then
    echo "Node $(node --version) is in .tools/node. Put it on your PATH with:"
    echo "  export PATH=\"$PWD/.tools/node/bin:\$PATH\""
  else
    echo "Node $(node --version) on your PATH ($(command -v node)) is recent enough: nothing to do."
  fi
  exit 0
fi
bash scripts/setup.sh quickstart
source scripts/ensure-node.sh
# Not root: the firewall rule of network.egress none, added with sudo (scripts/egress-guard.sh).
guard=$(bash scripts/egress-guard.sh) || guard=""
if [ "$guard" = operator ]; then export PAAS_DOCKER_EGRESS_GUARD=operator; fi
exec node bin/paas.js start "$@"
