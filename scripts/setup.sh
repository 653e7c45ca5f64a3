#!/usr/bin/env bash
# The one set-up behind every entry point: `bash scripts/quickstart.sh` runs the
# profile `quickstart` (what the embedded default needs), `npm test` and
# `.ci/run` run `test` (what the tests need). Every part checks first, so a
# second run installs nothing and returns at once; what is missing is said in
# one line, then installed: system packages from Debian's or Ubuntu's archive
# as root or with passwordless sudo, Node and the npm dependencies inside the
# clone. Where it cannot install (no root, another OS) it stops, before
# changing anything, with the exact commands to run.
#
# usage: bash scripts/setup.sh [--print-plan] [quickstart | test | PART...]
#   parts: node deps engine caddy registry base-images shellcheck cluster
#   --print-plan   say what is missing and what would be done; change nothing
#
# Adding a part: write its
# check_<part> (records what is missing with need_pkg/need_step) and, if it has
# a step, do_<part> and cmd_<part> below, then add its name to PROFILE_test
# (and to REQUIRES if it needs another part first, to LONG if it takes minutes).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PROFILE_quickstart="node deps engine caddy"
PROFILE_test="node deps engine caddy registry base-images shellcheck cluster"
# Parts that another part needs first (deps runs npm; the base images are built into the engine).
declare -A REQUIRES=([deps]="node" [base_images]="engine")
# Parts whose step takes minutes: their progress lines are shown as they come, not kept aside.
declare -A LONG=([base_images]=1 [cluster]=1)
BASE_IMAGES=(runtime python go rust noshell postgres redis)
DOCKERD_LOG="${TMPDIR:-/tmp}/paas-dockerd.log"
# Tests of this script point this at a fake root to stand in for /etc/os-release and systemd.
SYSROOT="${PAAS_SETUP_SYSROOT:-}"
# How the commands that need root are shown to a person: with sudo, unless this runs as root.
AS="sudo "

say() { echo "paas setup: $*"; }
die() {
  echo "paas setup: error: $*" >&2
  exit 1
}
has_systemd() { [ -d "$SYSROOT/run/systemd/system" ]; }
label() { echo "${1//_/-}"; }
join() {
  local sep="$1" out="$2" x
  shift 2
  for x in "$@"; do out+="$sep$x"; done
  echo "$out"
}

# --- what is missing, per part -------------------------------------------------
declare -A PKGS=() STEP=() STEP_ROOT=()
need_pkg() { PKGS[$1]="${PKGS[$1]:+${PKGS[$1]} }$2"; }
# need_step PART root|user "what it does, for the one line"
need_step() {
  STEP[$1]="$3"
  [ "$2" = root ] && STEP_ROOT[$1]=1
  return 0
}
NOTES=()

check_node() {
  # shellcheck source=ensure-node.sh
  source "$ROOT/scripts/ensure-node.sh" --functions
  _paas_node_path
  _paas_node_ok && return 0
  # Node 24 comes as an npm package; a machine without any npm gets Debian's first.
  command -v npm >/dev/null 2>&1 || need_pkg node npm
  need_step node user "Node 24 into .tools/node"
}
cmd_node() { echo "source scripts/ensure-node.sh"; }
do_node() { _paas_node_install; }

check_deps() {
  if [ ! -d "$ROOT/node_modules/probot" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    need_step deps user "the npm dependencies (npm ci)"
  fi
}
cmd_deps() { echo "npm ci --no-audit --no-fund --prefer-offline"; }
do_deps() { (cd "$ROOT" && npm ci --no-audit --no-fund --prefer-offline); }

ENGINE_STATE=ready
check_engine() {
  if [ -n "${PAAS_DOCKER_HOST:-}" ]; then
    # An engine elsewhere: nothing to install or start here, only to reach.
    if ! command -v docker >/dev/null 2>&1; then
      NOTES+=("engine: PAAS_DOCKER_HOST=$PAAS_DOCKER_HOST is not checked here (no docker CLI); paas start checks it")
    elif ! DOCKER_HOST="$PAAS_DOCKER_HOST" docker version >/dev/null 2>&1; then
      die "part engine: the Docker engine at PAAS_DOCKER_HOST=$PAAS_DOCKER_HOST does not answer: start it there, or unset PAAS_DOCKER_HOST to use (and install) this machine's"
    fi
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    need_pkg engine docker.io
    ENGINE_STATE=stopped
    need_step engine root "start the Docker engine"
    return 0
  fi
  local out
  out="$(docker version --format '{{.Server.Version}}' 2>&1)" && return 0
  if [[ "$out" == *"permission denied"* ]]; then
    # The engine runs but this user may not use its socket: group membership counts from the next login.
    ENGINE_STATE=denied
    need_step engine root "let $(whoami) use the Docker engine (group docker)"
  else
    ENGINE_STATE=stopped
    need_step engine root "start the Docker engine"
  fi
}
cmd_engine() {
  if [ "$ENGINE_STATE" = denied ]; then
    echo "${AS}usermod -aG docker $(whoami) && newgrp docker"
  elif has_systemd; then
    echo "${AS}systemctl start docker"
  else
    echo "${AS}setsid dockerd >$DOCKERD_LOG 2>&1 &"
  fi
}
# A machine restarted without a clean stop (no tmpfs on /run here) keeps the engine's pid
# files. When the number in one now names another process, or a thread of one, dockerd refuses
# to start ("pid file found, ensure docker is not running") or waits for a containerd that is
# not there. Removed unless they name a live process of that name.
clear_stale_pidfile() {
  local f=$1 name=$2 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  if [[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] &&
    grep -qx "Tgid:[[:space:]]*$pid" "/proc/$pid/status" 2>/dev/null; then
    return 0
  fi
  "${SUDO[@]}" rm -f "$f"
}
do_engine() {
  if [ "$ENGINE_STATE" = denied ]; then
    "${SUDO[@]}" usermod -aG docker "$(whoami)"
    return
  fi
  local _ out pid=""
  if has_systemd; then
    "${SUDO[@]}" systemctl start docker
  else
    clear_stale_pidfile /var/run/docker.pid dockerd
    clear_stale_pidfile /var/run/docker/containerd/containerd.pid containerd
    # setsid first: in a session of its own (sudo too), the engine outlives this script and
    # never gets the terminal's Ctrl-C, which sudo would pass on to it.
    setsid "${SUDO[@]}" dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    pid=$!
  fi
  for _ in $(seq 1 60); do
    out="$(docker version 2>&1)" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      tail -20 "$DOCKERD_LOG" >&2 2>/dev/null || true
      echo "dockerd exited (log: $DOCKERD_LOG)" >&2
      return 1
    fi
    if [[ "$out" == *"permission denied"* ]]; then
      # Up, but not for this user (sudo started it): the group, which counts from the next login.
      ENGINE_STATE=denied
      "${SUDO[@]}" usermod -aG docker "$(whoami)"
      return 0
    fi
    sleep 1
  done
  tail -20 "$DOCKERD_LOG" >&2 2>/dev/null || true
  echo "the Docker engine did not answer within 60 s (log: $DOCKERD_LOG)" >&2
  return 1
}

check_caddy() {
  if ! command -v caddy >/dev/null 2>&1; then
    need_pkg caddy caddy
  elif has_systemd && systemctl is-active --quiet caddy 2>/dev/null; then
    # paas runs its own Caddy; the packaged one holds port 80 and the admin address 2019.
    NOTES+=("caddy: the packaged caddy service is running (port 80, admin 2019): paas start would use it instead of its own; to let paas run its own: sudo systemctl disable --now caddy")
  fi
}
# Debian's caddy and docker-registry start services that paas and the tests do not use
# (they hold ports 80, 2019 and 5000): stopped right after they are installed.
after_pkgs_caddy() { if has_systemd; then "${SUDO[@]}" systemctl disable --now caddy; fi; }

check_registry() {
  command -v docker-registry >/dev/null 2>&1 || need_pkg registry docker-registry
  command -v htpasswd >/dev/null 2>&1 || need_pkg registry apache2-utils
}
after_pkgs_registry() { if has_systemd; then "${SUDO[@]}" systemctl disable --now docker-registry; fi; }

# npm test lints the shell scripts (this one among them) as it lints the TypeScript.
check_shellcheck() { command -v shellcheck >/dev/null 2>&1 || need_pkg shellcheck shellcheck; }

MISSING_IMAGES=""
check_base_images() {
  if [ "$ENGINE_STATE" = ready ]; then
    # Missing images, and Go or Rust builders whose toolchain is not the machine's.
    local missing=()
    mapfile -t missing < <(bash "$ROOT/scripts/base-images.sh" --missing)
    [ "${#missing[@]}" -eq 0 ] && return 0
    MISSING_IMAGES="$(join , "${missing[@]}")"
  else
    MISSING_IMAGES="$(join , "${BASE_IMAGES[@]}")"
  fi
  command -v debootstrap >/dev/null 2>&1 || need_pkg base_images debootstrap
  # debootstrap, chroot and bind mounts need root.
  need_step base_images root "build the base images paas-base/{$MISSING_IMAGES}:bookworm with debootstrap (minutes, once)"
}
cmd_base_images() { echo "${AS}bash scripts/base-images.sh"; }
do_base_images() { "${SUDO[@]}" bash "$ROOT/scripts/base-images.sh"; }

# The local Kubernetes cluster (scripts/cluster.sh): built from the Go module proxy once per
# machine (its binaries are cached by version), then started; the cluster tests run against it.
# Its two extra control planes (no nodes; the tests of many clusters register simulated ones)
# come with it: the same binaries, started in seconds.
CLUSTER_BUILD_PID=""
CLUSTER_BUILD_LOG="${TMPDIR:-/tmp}/paas-cluster-build.log"
check_cluster() {
  bash "$ROOT/scripts/cluster.sh" check >/dev/null 2>&1 && bash "$ROOT/scripts/cluster.sh" planes check >/dev/null 2>&1 &&
    return 0
  command -v go >/dev/null 2>&1 || NOTES+=("cluster: Go is needed to build the local cluster (https://go.dev/dl/)")
  need_step cluster root "the local Kubernetes cluster and two more control planes (bash scripts/cluster.sh up && bash scripts/cluster.sh planes up; the first build takes a while)"
}
cmd_cluster() { echo "${AS}bash scripts/cluster.sh up && ${AS}bash scripts/cluster.sh planes up"; }
# The build is CPU work while the packages and base images are mostly downloads: it starts
# first, in the background, and the cluster part waits for it.
start_cluster_build() {
  "${SUDO[@]}" bash "$ROOT/scripts/cluster.sh" build >"$CLUSTER_BUILD_LOG" 2>&1 &
  CLUSTER_BUILD_PID=$!
}
do_cluster() {
  if [ -n "$CLUSTER_BUILD_PID" ] && ! wait "$CLUSTER_BUILD_PID"; then
    tail -30 "$CLUSTER_BUILD_LOG" >&2
    echo "building the local cluster failed (log: $CLUSTER_BUILD_LOG)" >&2
    return 1
  fi
  if [ -n "$CLUSTER_BUILD_PID" ]; then cat "$CLUSTER_BUILD_LOG"; fi
  "${SUDO[@]}" bash "$ROOT/scripts/cluster.sh" up
  "${SUDO[@]}" bash "$ROOT/scripts/cluster.sh" planes up
}

# --- which parts ----------------------------------------------------------------
PRINT_PLAN=0
WANT=()
for arg in "$@"; do
  case "$arg" in
    --print-plan) PRINT_PLAN=1 ;;
    quickstart) read -ra p <<<"$PROFILE_quickstart" && WANT+=("${p[@]//-/_}") ;;
    test) read -ra p <<<"$PROFILE_test" && WANT+=("${p[@]//-/_}") ;;
    -h | --help)
      awk 'NR > 1 && /^#/ && !/shellcheck/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
      exit 0
      ;;
    *)
      part="${arg//-/_}"
      declare -F "check_$part" >/dev/null || die "unknown part or profile '$arg' (profiles: quickstart, test; parts: ${PROFILE_test})"
      WANT+=("$part")
      ;;
  esac
done
[ ${#WANT[@]} -gt 0 ] || die "name a profile (quickstart, test) or parts (${PROFILE_test}); see --help"

PARTS=()
add_part() {
  local p dep
  for p in "${PARTS[@]+"${PARTS[@]}"}"; do [ "$p" = "$1" ] && return 0; done
  for dep in ${REQUIRES[$1]:-}; do add_part "$dep"; done
  PARTS+=("$1")
}
for part in "${WANT[@]}"; do add_part "$part"; done


for part in "${PARTS[@]}"; do "check_$part"; done
for note in "${NOTES[@]+"${NOTES[@]}"}"; do say "note: $note"; done

ALL_PKGS=()
NEED_ROOT=0
SUMMARY=()
for part in "${PARTS[@]}"; do
  what=()
  if [ -n "${PKGS[$part]:-}" ]; then
    read -ra p <<<"${PKGS[$part]}"
    ALL_PKGS+=("${p[@]}")
    NEED_ROOT=1
    what+=("${PKGS[$part]} (apt)")
  fi
  if [ -n "${STEP[$part]:-}" ]; then
    what+=("${STEP[$part]}")
    if [ -n "${STEP_ROOT[$part]:-}" ]; then NEED_ROOT=1; fi
  fi
  if [ ${#what[@]} -gt 0 ]; then SUMMARY+=("$(label "$part"): $(join ", " "${what[@]}")"); fi
done

# --- how: as root, with sudo, or not at all ------------------------------------
os_name() {
  if [ "$(uname -s)" != Linux ]; then
    uname -s
  elif [ -r "$SYSROOT/etc/os-release" ]; then
    (
      # shellcheck disable=SC1091
      . "$SYSROOT/etc/os-release"
      echo "${PRETTY_NAME:-${ID:-Linux}}"
    )
  else
    echo Linux
  fi
}
debian_like() {
  [ "$(uname -s)" = Linux ] && [ -r "$SYSROOT/etc/os-release" ] && command -v apt-get >/dev/null 2>&1 || return 1
  (
    # shellcheck disable=SC1091
    . "$SYSROOT/etc/os-release"
    case " ${ID:-} ${ID_LIKE:-} " in *" debian "* | *" ubuntu "*) exit 0 ;; *) exit 1 ;; esac
  )
}

SUDO=()
if [ ${#SUMMARY[@]} -eq 0 ]; then
  DECISION="nothing to install"
elif [ ${#ALL_PKGS[@]} -gt 0 ] && ! debian_like; then
  DECISION="other-os"
elif [ "$NEED_ROOT" = 0 ]; then
  DECISION="install (no root needed)"
elif [ "$(id -u)" = 0 ]; then
  DECISION="install as root"
  AS=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
  DECISION="install with sudo"
  SUDO=(sudo -n)
else
  DECISION="no-root"
fi

# The commands a person runs where this script may not: in part order, root ones only.
root_commands() {
  local part
  if [ ${#ALL_PKGS[@]} -gt 0 ]; then
    echo "sudo apt-get update && sudo apt-get install -y --no-install-recommends ${ALL_PKGS[*]}"
    if has_systemd && [ -n "${PKGS[caddy]:-}" ]; then echo "sudo systemctl disable --now caddy"; fi
    if has_systemd && [ -n "${PKGS[registry]:-}" ]; then echo "sudo systemctl disable --now docker-registry"; fi
  fi
  for part in "${PARTS[@]}"; do
    if [ -n "${STEP_ROOT[$part]:-}" ]; then "cmd_$part"; fi
  done
}

# What each part needs, by name, where apt is not the way.
other_os_needs() {
  local part darwin=0
  [ "$(uname -s)" = Darwin ] && darwin=1
  for part in "${PARTS[@]}"; do
    [ -n "${PKGS[$part]:-}${STEP_ROOT[$part]:-}" ] || continue
    case "$part:$darwin" in
      node:*) echo "  node: Node 24 (https://nodejs.org/en/download)" ;;
      engine:1) echo "  engine: Docker Desktop (https://docs.docker.com/desktop/), or: brew install colima docker && colima start" ;;
      engine:0) echo "  engine: the Docker engine, dockerd and docker (https://docs.docker.com/engine/install/), started" ;;
      caddy:1) echo "  caddy: brew install caddy" ;;
      caddy:0) echo "  caddy: Caddy 2 (https://caddyserver.com/docs/install)" ;;
      registry:*) echo "  registry: docker-registry (CNCF distribution 2.x) and htpasswd (Apache's utilities) on PATH" ;;
      base_images:*) echo "  base-images: debootstrap, to build the Debian images the tests use (the tests run on Debian or Ubuntu)" ;;
      cluster:*) echo "  cluster: Go (https://go.dev/dl/), then: sudo bash scripts/cluster.sh up && sudo bash scripts/cluster.sh planes up (Linux only)" ;;
      *) echo "  $(label "$part"): ${PKGS[$part]:-}" ;;
    esac
  done
}

if [ "$PRINT_PLAN" = 1 ]; then
  for part in "${PARTS[@]}"; do
    what=()
    if [ -n "${PKGS[$part]:-}" ]; then what+=("apt: ${PKGS[$part]}"); fi
    if [ -n "${STEP[$part]:-}" ]; then what+=("${STEP[$part]}"); fi
    if [ ${#what[@]} -eq 0 ]; then
      printf '%-12s ready\n' "$(label "$part")"
    else
      printf '%-12s missing: %s\n' "$(label "$part")" "$(join "; " "${what[@]}")"
    fi
  done
  echo "decision: $DECISION"
  case "$DECISION" in
    no-root) root_commands | sed 's/^/  /' ;;
    other-os) other_os_needs ;;
  esac
  exit 0
fi

if [ ${#SUMMARY[@]} -eq 0 ]; then
  say "ready: $(label "${PARTS[*]}")"
  exit 0
fi

case "$DECISION" in
  no-root)
    {
      say "missing: $(join "; " "${SUMMARY[@]}")"
      echo "paas setup: error: installing this needs root; this user ($(whoami)) is not root and has no passwordless sudo. Run:"
      root_commands | sed 's/^/  /'
      echo "then run this command again: it installs the rest itself."
    } >&2
    exit 1
    ;;
  other-os)
    {
      say "missing: $(join "; " "${SUMMARY[@]}")"
      echo "paas setup: error: this machine runs $(os_name); paas setup installs system packages on Debian and Ubuntu only. Install these, then run this command again:"
      other_os_needs
    } >&2
    exit 1
    ;;
esac

# --- install -------------------------------------------------------------------
say "installing $(join "; " "${SUMMARY[@]}")"
LOG="$(mktemp "${TMPDIR:-/tmp}/paas-setup.XXXXXX")"
trap 'rm -f "$LOG"' EXIT
started=$(date +%s)

# Runs one command of a part, its output kept aside; on failure names the part
# and the command a person would run, with its last lines.
run_part() {
  local part="$1" shown="$2" code=0
  shift 2
  "$@" >"$LOG" 2>&1 || code=$?
  if [ "$code" != 0 ]; then
    tail -20 "$LOG" >&2
    die "part $(label "$part") could not be installed: \`$shown\` failed (exit $code)"
  fi
}

if [ -n "${STEP[cluster]:-}" ] && command -v go >/dev/null 2>&1; then start_cluster_build; fi

if [ ${#ALL_PKGS[@]} -gt 0 ]; then
  with_pkgs=()
  for part in "${PARTS[@]}"; do [ -z "${PKGS[$part]:-}" ] || with_pkgs+=("$(label "$part")"); done
  run_part "$(join ", " "${with_pkgs[@]}")" "${AS}apt-get update" "${SUDO[@]}" apt-get update -qq
  for part in "${PARTS[@]}"; do
    [ -n "${PKGS[$part]:-}" ] || continue
    read -ra p <<<"${PKGS[$part]}"
    run_part "$part" "${AS}apt-get install -y --no-install-recommends ${p[*]}" \
      "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${p[@]}"
    if declare -F "after_pkgs_$part" >/dev/null && has_systemd; then
      run_part "$part" "${AS}systemctl disable --now $(label "$part")" "after_pkgs_$part"
    fi
  done
fi

for part in "${PARTS[@]}"; do
  [ -n "${STEP[$part]:-}" ] || continue
  if declare -F "cmd_$part" >/dev/null; then shown="$("cmd_$part")"; else shown="bash scripts/setup.sh $(label "$part")"; fi
  if [ -n "${LONG[$part]:-}" ]; then
    code=0
    "do_$part" || code=$?
    [ "$code" = 0 ] || die "part $(label "$part") could not be installed: \`$shown\` failed (exit $code)"
  else
    run_part "$part" "$shown" "do_$part"
  fi
  if [ "$part" = engine ] && [ "$ENGINE_STATE" = denied ]; then
    die "part engine: added $(whoami) to the group docker, which counts from the next login: log out and in (or run \`newgrp docker\`), then run this command again"
  fi
done

# Whatever was installed must now pass its own check; a part that still does not is named.
PKGS=() STEP=() STEP_ROOT=()
ENGINE_STATE=ready MISSING_IMAGES=""
for part in "${PARTS[@]}"; do
  "check_$part"
  if [ -n "${PKGS[$part]:-}${STEP[$part]:-}" ]; then
    die "part $(label "$part") is still missing after installing: ${PKGS[$part]:-}${STEP[$part]:-}"
  fi
done
say "ready in $(($(date +%s) - started)) s: $(label "${PARTS[*]}")"
