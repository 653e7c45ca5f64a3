#!/usr/bin/env bash
# For a paas that does not run as root (scripts/quickstart.sh runs this): puts in place, with
# sudo, the host firewall rule that network.egress none needs (GUARD_RULE in
# src/runtime/docker/egress.ts, read from there), so that paas can run with
# PAAS_DOCKER_EGRESS_GUARD=operator. Prints "operator" when the rule is in place. Prints
# nothing when paas keeps the rule itself (root), when the operator chose a guard or an engine
# elsewhere, or when sudo refuses; `paas start` then says what to do. The rule does not survive
# a reboot: the next quickstart adds it again (checking first, so it is never added twice).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "$(id -u)" != 0 ] || exit 0
[ "$(uname -s)" = Linux ] || exit 0
[ -z "${PAAS_DOCKER_HOST:-}" ] && [ -z "${PAAS_DOCKER_EGRESS_GUARD:-}" ] || exit 0
command -v sudo >/dev/null 2>&1 || exit 0
mapfile -d '' -t RULE < <(node --input-type=module -e \
  'const { GUARD_RULE } = await import("./src/runtime/docker/egress.ts"); process.stdout.write(GUARD_RULE.join("\0") + "\0");')
[ ${#RULE[@]} -gt 0 ] || {
  echo "paas: could not read the egress rule from src/runtime/docker/egress.ts" >&2
  exit 1
}
if sudo -n iptables -w -C INPUT "${RULE[@]}" >/dev/null 2>&1; then
  echo operator
  exit 0
fi
echo "paas: apps with network.egress none (the default) need a host firewall rule that a paas without root cannot add; adding it with sudo (iptables -I INPUT 1 …)" >&2
# The check again through sudo that may ask a password: the rule may be there already.
if sudo iptables -w -C INPUT "${RULE[@]}" >/dev/null 2>&1 || sudo iptables -w -I INPUT 1 "${RULE[@]}" >&2; then
  echo operator
else
  echo "paas: could not add it; paas start says what to do" >&2
fi
