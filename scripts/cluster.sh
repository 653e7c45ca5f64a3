#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, built from source:
#
#   bash scripts/cluster.sh up       build what is missing, start everything, wait until
#                                    the node is Ready and the Gateway is programmed
#   bash scripts/cluster.sh env      the variables the tests and the App need (eval-able)
#   bash scripts/cluster.sh status   what runs, the node and the Gateway
#   bash scripts/cluster.sh check    exit 0 when the current build runs (quiet, quick)
#   bash scripts/cluster.sh down     stop everything; clean containers, netns, mounts, iptables
#   bash scripts/cluster.sh reset    down, then forget the cluster (etcd data, certificates)
#   bash scripts/cluster.sh build    only build the binaries
#   bash scripts/cluster.sh logs [component]
#   bash scripts/cluster.sh planes up|down|status|check|env [N]
#                                    N more control planes (default 2) with no nodes, for
#                                    tests of many clusters (see "planes" below)
#
# What runs (all host processes, as root, logs in $STATE/logs):
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy
#     one multi-call binary built from k8s.io/kubernetes and go.etcd.io/etcd (scripts/cluster/go.mod)
#   containerd (+ containerd-shim-runc-v2, ctr) built from github.com/containerd/containerd/v2
#   Debian's runc and containernetworking-plugins (bridge, host-local, portmap, loopback, firewall)
#   Traefik, built from github.com/traefik/traefik/v3 (scripts/cluster/gateway/go.mod), serving the
#     Gateway API: GatewayClass "traefik", Gateway paas-gateway/paas on 127.0.0.1:$GATEWAY_PORT,
#     its Prometheus metrics (requests per backend Service: what sleeping previews read) on
#     127.0.0.1:18081/metrics
#   CoreDNS, built from github.com/coredns/coredns (scripts/cluster/dns/go.mod), the cluster DNS,
#     as on any cluster: a Deployment in kube-system behind the Service kube-dns ($DNS_IP, every
#     pod's nameserver), from an image packed here like the pause image; pods find Services by
#     name (`db`, `db.<namespace>.svc.cluster.local`)
#   The pod sandbox ("pause") image is our own static program, packed and imported into containerd;
#   app images come from any registry on loopback (plain HTTP) with pull secrets, or `ctr import`.
#
# Binaries are cached by version under $CACHE (default /var/cache/paas-cluster), so a second
# `up` starts in seconds. Cluster state lives in $STATE (default /var/lib/paas-cluster).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MOD=$ROOT/scripts/cluster
CACHE=${PAAS_CLUSTER_CACHE:-/var/cache/paas-cluster}
STATE=${PAAS_CLUSTER_STATE:-/var/lib/paas-cluster}
RUNDIR=${PAAS_CLUSTER_RUN:-/run/paas-cluster}
LOGS=$STATE/logs
PKI=$STATE/pki
KUBECONFIG_OUT=$STATE/kubeconfig
GATEWAY_PORT=${PAAS_CLUSTER_GATEWAY_PORT:-18080}
GATEWAY_NS=paas-gateway
GATEWAY_NAME=paas
NODE_NAME=paas-node
POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.96.0.0/16
API_PORT=6443
ETCD_PORT=2379
ETCD_PEER_PORT=2380
ETCD_METRICS_PORT=2381
KCM_PORT=10257
# Names in the kubeconfigs this script writes (cluster and context).
CLUSTER_NAME=paas
# Extra control planes (`planes`): plane i uses ports PLANES_PORT_BASE + 10*i + 0..4
# (API, etcd client, etcd peer, etcd metrics, controller-manager), clear of the ones above.
PLANES_STATE=${PAAS_PLANES_STATE:-/var/lib/paas-cluster-planes}
PLANES_PORT_BASE=${PAAS_PLANES_PORT_BASE:-16400}
PLANE_COMPONENTS=(etcd kube-apiserver kube-controller-manager)
K8S_VERSION=$(awk '$1 == "k8s.io/kubernetes" { print $2; exit }' "$MOD/go.mod")
CONTAINERD_VERSION=$(awk '$1 == "github.com/containerd/containerd/v2" { print $2; exit }' "$MOD/go.mod")
TRAEFIK_VERSION=$(awk '$1 == "github.com/traefik/traefik/v3" { print $2; exit }' "$MOD/gateway/go.mod")
COREDNS_VERSION=$(awk '$1 == "require" { $0 = $2 " " $3 } $1 == "github.com/coredns/coredns" { print $2; exit }' "$MOD/dns/go.mod")
# The Service kube-dns, in the Service range; CoreDNS listens on an unprivileged port behind it.
DNS_IP=10.96.0.10
DNS_POD_PORT=1053
CNI_BIN=${PAAS_CLUSTER_CNI_BIN:-/usr/lib/cni}
RUNC=${PAAS_CLUSTER_RUNC:-$(command -v runc || echo /usr/sbin/runc)}
# Components in start order; `down` stops them in reverse.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy traefik)

log() { echo "cluster: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# ---------------------------------------------------------------- build
# The cache key covers everything that goes into the binaries, so an edit of
# go.mod or of our commands builds a new set (Go's build cache keeps that quick).
build_key() {
  (
    cd "$MOD"
    go version
    cat go.mod go.sum gateway/go.mod gateway/go.sum dns/go.mod dns/go.sum
    find cmd dns -name '*.go' | LC_ALL=C sort | xargs cat
    # The recipe too: a build that makes another artifact (an image archive) is another set.
    declare -f build
  ) | sha256sum | cut -c1-12
}

resolve_bin() {
  # A set built elsewhere (same layout as build() makes), used as it is.
  if [ -n "${PAAS_CLUSTER_BIN:-}" ]; then
    BIN=$PAAS_CLUSTER_BIN
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "Go is needed to build the cluster (Go $(awk '/^go /{print $2}' "$MOD/go.mod") or newer)"
  BIN=$CACHE/$K8S_VERSION-$(build_key)/bin
}

build() {
  resolve_bin
  [ -f "$BIN/.complete" ] || [ -n "${PAAS_CLUSTER_BIN:-}" ] && return 0
  local out=$BIN.tmp.$$ t0 t
  rm -rf "$out"
  mkdir -p "$out"
  export GOCACHE=${PAAS_CLUSTER_GOCACHE:-$CACHE/go-build} CGO_ENABLED=0 GOFLAGS=-mod=readonly
  local minor=${K8S_VERSION#v1.}
  minor=${minor%%.*}
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  ld+=" -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
  ld+=" -X github.com/traefik/traefik/v3/pkg/version.Version=$TRAEFIK_VERSION"
  log "building Kubernetes $K8S_VERSION, containerd $CONTAINERD_VERSION, Traefik $TRAEFIK_VERSION, CoreDNS $COREDNS_VERSION into $BIN (GOCACHE=$GOCACHE)"
  t0=$(date +%s)
  t=$t0
  (cd "$MOD" && go build -trimpath -ldflags "$ld" -o "$out/" ./cmd/pause ./cmd/ociimage)
  log "  pause, ociimage: $(($(date +%s) - t))s"
  t=$(date +%s)
  (cd "$MOD" && go build -trimpath -ldflags "$ld" -o "$out/" \
    github.com/containerd/containerd/v2/cmd/containerd \
    github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 \
    github.com/containerd/containerd/v2/cmd/ctr)
  log "  containerd, containerd-shim-runc-v2, ctr: $(($(date +%s) - t))s"
  t=$(date +%s)
  (cd "$MOD" && go build -trimpath -ldflags "$ld" -o "$out/kube" ./cmd/kube)
  log "  kube (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy, kubectl): $(($(date +%s) - t))s"
  t=$(date +%s)
  (cd "$MOD/gateway" && go build -trimpath -ldflags "$ld" -o "$out/traefik" github.com/traefik/traefik/v3/cmd/traefik)
  log "  traefik: $(($(date +%s) - t))s"
  t=$(date +%s)
  (cd "$MOD/dns" && go build -trimpath -ldflags "$ld" -o "$out/coredns" .)
  log "  coredns: $(($(date +%s) - t))s"
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
    ln -sf kube "$out/$c"
  done
  # The Gateway API CRDs Traefik's release serves (standard channel), from the module cache.
  local gwdir
  gwdir=$(cd "$MOD/gateway" && go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)
  mkdir -p "$out/../crds"
  cp "$gwdir"/config/crd/standard/*.yaml "$out/../crds/"
  # Tagged by content: a new pause program is a new image, never a stale one under an old name.
  echo "localhost/paas/pause:$(sha256sum "$out/pause" | cut -c1-12)" >"$out/../pause.ref"
  "$out/ociimage" -o "$out/../pause.tar" -name "$(cat "$out/../pause.ref")" -entrypoint /pause "$out/pause=/pause"
  echo "localhost/paas/coredns:$(sha256sum "$out/coredns" | cut -c1-12)" >"$out/../coredns.ref"
  "$out/ociimage" -o "$out/../coredns.tar" -name "$(cat "$out/../coredns.ref")" -entrypoint /coredns "$out/coredns=/coredns"
  touch "$out/.complete"
  rm -rf "$BIN"
  mv "$out" "$BIN"
  log "built in $(($(date +%s) - t0))s"
}

# ---------------------------------------------------------------- processes
pidfile() { echo "$RUNDIR/pids/$1.pid"; }

# A pid file holds "PID STARTTIME": the start time (field 22 of /proc/PID/stat, clock ticks
# since boot) tells our process from a later one that reuses the number. A pid alone is not
# enough: after a restart the number of a stale file can name another of our components, or
# one of its threads (/proc/TID exists for threads too), and the component would never start.
proc_starttime() {
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) } # after the command name, which may hold spaces or parentheses
  # shellcheck disable=SC2086 # split into fields on purpose
  set -- $stat
  [ $# -ge 20 ] && echo "${20}"
}

pid_of() {
  local f pid started now
  f=$(pidfile "$1")
  [ -f "$f" ] || return 1
  read -r pid started <"$f" || [ -n "${pid:-}" ] || return 1
  [ -n "$pid" ] && [ -n "${started:-}" ] || return 1
  now=$(proc_starttime "$pid") || return 1
  [ "$now" = "$started" ] || return 1
  # The thread group's leader, not a thread of another process.
  grep -qx "Tgid:[[:space:]]*$pid" "/proc/$pid/status" 2>/dev/null || return 1
  echo "$pid"
}

# Running = the pid file names a live process, started when the file says, that runs one of
# our binaries.
running() {
  local pid
  pid=$(pid_of "$1") || return 1
  tr '\0' '\n' <"/proc/$pid/cmdline" | head -1 | grep -q "^$CACHE/"
}

start() {
  local name=$1 f pid started
  shift
  if running "$name"; then
    return 0
  fi
  f=$(pidfile "$name")
  rm -f "$f"
  mkdir -p "$LOGS" "$RUNDIR/pids"
  echo "--- start $(date -u +%FT%TZ): $*" >>"$LOGS/$name.log"
  # setsid: the component outlives this script, in a session of its own; it writes its own pid
  # (exec keeps the pid and the start time), and this script adds the start time.
  # shellcheck disable=SC2016 # expanded by the inner shell: its own pid, then the command
  setsid bash -c 'echo $$ >"$0.new"; exec "$@"' "$f" "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
  for _ in $(seq 1 50); do
    [ -s "$f.new" ] && break
    sleep 0.1
  done
  read -r pid <"$f.new" 2>/dev/null || pid=""
  rm -f "$f.new"
  [ -n "$pid" ] || return 0 # it never wrote its pid: the wait that follows reports its log
  started=$(proc_starttime "$pid") || return 0 # it already exited: the same
  echo "$pid $started" >"$f"
}

stop() {
  local name=$1 f pid
  f=$(pidfile "$name")
  if running "$name"; then
    pid=$(pid_of "$name")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

fail_with_log() {
  local name=$1
  shift
  log "error: $*"
  if [ -f "$LOGS/$name.log" ]; then
    log "last lines of $LOGS/$name.log:"
    tail -n 40 "$LOGS/$name.log" >&2
  fi
  exit 1
}

# wait_for NAME SECONDS COMMAND...: until COMMAND succeeds, failing early if NAME exits.
wait_for() {
  local name=$1 secs=$2
  shift 2
  local deadline=$(($(date +%s) + secs))
  until "$@" >/dev/null 2>&1; do
    running "$name" || fail_with_log "$name" "$name exited during start"
    [ "$(date +%s)" -lt "$deadline" ] || fail_with_log "$name" "$name not ready after ${secs}s"
    sleep 0.5
  done
}

kubectl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

# ---------------------------------------------------------------- host
node_ip() {
  local dev ip
  dev=$(ip -4 route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
  [ -n "$dev" ] && ip=$(ip -4 -o addr show dev "$dev" scope global | awk '{ split($4, a, "/"); print a[1]; exit }')
  [ -n "${ip:-}" ] || ip=$(ip -4 -o addr show scope global | awk '$2 !~ /^(cni|docker|veth)/ { split($4, a, "/"); print a[1]; exit }')
  [ -n "${ip:-}" ] || die "no IPv4 address on this machine for the node (ip -4 addr shows none but loopback)"
  echo "$ip"
}

prerequisites() {
  [ "$(id -u)" = 0 ] || die "the cluster runs as root (containers, iptables, mounts): sudo bash scripts/cluster.sh $CMD"
  local pkgs=()
  [ -x "$RUNC" ] || pkgs+=(runc)
  [ -x "$CNI_BIN/bridge" ] || pkgs+=(containernetworking-plugins)
  command -v iptables-restore >/dev/null 2>&1 || pkgs+=(iptables)
  command -v conntrack >/dev/null 2>&1 || pkgs+=(conntrack)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)
  command -v curl >/dev/null 2>&1 || pkgs+=(curl)
  if [ ${#pkgs[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || die "missing ${pkgs[*]}: install them with your distribution's package manager"
    log "installing ${pkgs[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${pkgs[@]}"; } >/dev/null ||
      die "could not install ${pkgs[*]}: apt-get install ${pkgs[*]}"
    RUNC=$(command -v runc || echo /usr/sbin/runc)
  fi
  modprobe br_netfilter 2>/dev/null || true
  modprobe overlay 2>/dev/null || true
  [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ] || die "the kernel has no br_netfilter (kube-proxy needs it): modprobe br_netfilter"
  sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 >/dev/null
}

# ---------------------------------------------------------------- certificates
# One CA signs everything; clients are identified by CN (user) and O (group).
cert() { # name cn org [sans]
  local name=$1 cn=$2 org=$3 sans=${4:-}
  [ -f "$PKI/$name.crt" ] && return 0
  openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
  local subj="/CN=$cn"
  [ -n "$org" ] && subj="/O=$org$subj"
  local ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [ -n "$sans" ]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=$sans"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } >"$ext"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

kubeconfig() { # file user-cert
  local file=$1 c=$2
  [ -f "$file" ] && return 0
  local k=("$BIN/kubectl" --kubeconfig "$file.tmp")
  "${k[@]}" config set-cluster "$CLUSTER_NAME" --server "https://127.0.0.1:$API_PORT" --certificate-authority "$PKI/ca.crt" --embed-certs >/dev/null
  "${k[@]}" config set-credentials "$c" --client-certificate "$PKI/$c.crt" --client-key "$PKI/$c.key" --embed-certs >/dev/null
  "${k[@]}" config set-context "$CLUSTER_NAME" --cluster "$CLUSTER_NAME" --user "$c" >/dev/null
  "${k[@]}" config use-context "$CLUSTER_NAME" >/dev/null
  mv "$file.tmp" "$file"
}

# What every control plane has (the main cluster's and the planes'): a CA, the service account
# key, the API server's serving and kubelet client certificates, the admin's and the
# controller-manager's identities. Paths from $PKI and $STATE (a plane sets its own).
pki_control_plane() {
  local ip=$1
  mkdir -p "$PKI" "$STATE/kubeconfigs"
  chmod 700 "$PKI"
  if [ ! -f "$PKI/ca.crt" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=${CA_NAME:-paas-cluster-ca}" -days 3650 -out "$PKI/ca.crt" 2>/dev/null
  fi
  [ -f "$PKI/sa.key" ] || {
    openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/sa.key" 2>/dev/null
    openssl ec -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  }
  # The serving certificate names the node address: made again if that changed.
  if [ "$(cat "$PKI/apiserver.ip" 2>/dev/null)" != "$ip" ]; then rm -f "$PKI/apiserver.crt"; fi
  cert apiserver kube-apiserver "" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:10.96.0.1,IP:$ip"
  echo "$ip" >"$PKI/apiserver.ip"
  cert admin paas-admin system:masters
  cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
  cert controller-manager system:kube-controller-manager ""
  kubeconfig "$KUBECONFIG_OUT" admin
  kubeconfig "$STATE/kubeconfigs/controller-manager.conf" controller-manager
}

pki() {
  local ip=$1
  pki_control_plane "$ip"
  cert scheduler system:kube-scheduler ""
  cert kubelet "system:node:$NODE_NAME" system:nodes
  cert kube-proxy system:kube-proxy ""
  cert traefik paas:traefik ""
  for c in scheduler kubelet kube-proxy traefik; do
    kubeconfig "$STATE/kubeconfigs/$c.conf" "$c"
  done
}

# ---------------------------------------------------------------- configuration
write_configs() {
  local ip=$1
  mkdir -p "$STATE/containerd/certs.d" "$STATE/cni/net.d" "$STATE/kubelet" "$RUNDIR/containerd"
  cat >"$STATE/containerd/config.toml" <<EOF
version = 3
root = "$STATE/containerd/root"
state = "$RUNDIR/containerd/state"
[grpc]
  address = "$RUNDIR/containerd/containerd.sock"
[ttrpc]
  address = "$RUNDIR/containerd/containerd.sock.ttrpc"
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$(cat "$BIN/../pause.ref")'
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = '$STATE/containerd/certs.d'
[plugins.'io.containerd.cri.v1.runtime']
  # Sandboxes ask for oom_score_adj -998; a process here may not lower its score
  # (write /proc/self/oom_score_adj: permission denied), and runc then fails with
  # "can't get final child's PID from pipe: EOF". Clamp to containerd's own score.
  restrict_oom_score_adj = true
  # Pod network namespaces under our state dir, not /run/netns, which others use.
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '$RUNC'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['$CNI_BIN']
    conf_dir = '$STATE/cni/net.d'
EOF
  cat >"$STATE/cni/net.d/10-paas.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "paas",
  "plugins": [
    {
      "type": "bridge", "bridge": "paas-cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$RUNDIR/cni/ipam", "ranges": [[{ "subnet": "$POD_CIDR" }]], "routes": [{ "dst": "0.0.0.0/0" }] }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } },
    { "type": "firewall" }
  ]
}
EOF
  cat >"$STATE/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine mounts cgroup v1 (hybrid); the kubelet refuses it unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$RUNDIR/containerd/containerd.sock
address: $ip
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: $PKI/ca.crt }
authorization: { mode: Webhook }
clusterDomain: cluster.local
# The Service kube-dns (CoreDNS): pods resolve Services by name, other names through the
# machine's own resolver (/etc/resolv.conf, which CoreDNS forwards to).
clusterDNS: [$DNS_IP]
resolvConf: /etc/resolv.conf
failSwapOn: false
rotateCertificates: false
serializeImagePulls: false
# A shared developer or CI machine: evict only when really out of room.
evictionHard: { memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%, nodefs.inodesFree: 2% }
imageGCHighThresholdPercent: 95
imageGCLowThresholdPercent: 90
maxPods: 110
EOF
  cat >"$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
clientConnection: { kubeconfig: $STATE/kubeconfigs/kube-proxy.conf }
# Leave the machine's conntrack sysctls alone.
conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s }
EOF
}

# ---------------------------------------------------------------- leftovers
# After a crash or a machine restart: processes are gone but their mounts,
# network namespaces, addresses and iptables chains may remain.
clean_node() {
  # container processes first: everything in the kubelet's cgroups
  for cg in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
    [ -d "$cg" ] || continue
    local -a procs_list=()
    mapfile -t procs_list < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    if [ ${#procs_list[@]} -gt 0 ]; then kill -KILL "${procs_list[@]}" 2>/dev/null || true; fi
  done
  # the shims of our containerd: processes running our shim binary (Docker's is another file)
  local exe pid
  for exe in /proc/[0-9]*/exe; do
    case "$(readlink "$exe" 2>/dev/null)" in
      "$CACHE"/*/containerd-shim-runc-v2)
        pid=${exe#/proc/}
        kill -KILL "${pid%/exe}" 2>/dev/null || true
        ;;
    esac
  done
  # mounts under our directories, deepest first
  awk -v s="$STATE" -v r="$RUNDIR" '$2 ~ "^(" s "|" r ")/" { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # (pod network namespaces are mounts under $RUNDIR/containerd/state/netns: gone above)
  ip link delete paas-cni0 2>/dev/null || true
  rm -rf "$RUNDIR/cni" "$RUNDIR/containerd/state"
  clean_iptables
}

# kube-proxy's chains (KUBE-*) and the CNI plugins' (CNI-*), in every table, and the jumps to them.
clean_iptables() {
  local t rules chains c
  for t in nat filter mangle; do
    rules=$(iptables-save -t "$t" 2>/dev/null) || continue
    chains=$(echo "$rules" | awk -F'[: ]' '/^:(KUBE|CNI)-/ { print $2 }')
    [ -n "$chains" ] || continue
    # the rules of built-in chains that jump to ours, then ours
    echo "$rules" | awk '/^-A / && / -j (KUBE|CNI)-/ && $2 !~ /^(KUBE|CNI)-/' | sed 's/^-A /-D /' |
      while read -r rule; do eval "iptables -t $t $rule" 2>/dev/null || true; done
    for c in $chains; do iptables -t "$t" -F "$c" 2>/dev/null || true; done
    for c in $chains; do iptables -t "$t" -X "$c" 2>/dev/null || true; done
  done
}

# ---------------------------------------------------------------- cluster objects
# The cluster DNS as clusters have it: CoreDNS in kube-system behind the Service kube-dns, with
# an identity that reads Services and their endpoints, under Pod Security restricted's rules.
system_objects() {
  cat <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: { name: coredns, namespace: kube-system }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: paas:coredns }
rules:
  - { apiGroups: [""], resources: [services, namespaces], verbs: [list, watch] }
  - { apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: paas:coredns }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: paas:coredns }
subjects: [{ kind: ServiceAccount, name: coredns, namespace: kube-system }]
---
apiVersion: v1
kind: ConfigMap
metadata: { name: coredns, namespace: kube-system }
data:
  Corefile: |
    .:$DNS_POD_PORT {
        errors
        health :8080
        ready :8181
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 5
        }
        cache 5
        loadbalance
        forward . /etc/resolv.conf
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: coredns, namespace: kube-system, labels: { k8s-app: kube-dns } }
spec:
  replicas: 1
  selector: { matchLabels: { k8s-app: kube-dns } }
  template:
    metadata: { labels: { k8s-app: kube-dns } }
    spec:
      serviceAccountName: coredns
      # The machine's resolver for names outside the cluster.
      dnsPolicy: Default
      priorityClassName: system-cluster-critical
      securityContext: { runAsNonRoot: true, runAsUser: 65535, runAsGroup: 65535, seccompProfile: { type: RuntimeDefault } }
      containers:
        - name: coredns
          image: $(cat "$BIN/../coredns.ref")
          imagePullPolicy: Never
          args: [-conf, /etc/coredns/Corefile]
          ports:
            - { name: dns, containerPort: $DNS_POD_PORT, protocol: UDP }
            - { name: dns-tcp, containerPort: $DNS_POD_PORT, protocol: TCP }
          readinessProbe: { httpGet: { path: /ready, port: 8181 }, periodSeconds: 2 }
          livenessProbe: { httpGet: { path: /health, port: 8080 }, periodSeconds: 10 }
          resources: { requests: { cpu: 10m, memory: 32Mi }, limits: { memory: 128Mi } }
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: [ALL] } }
          volumeMounts: [{ name: config, mountPath: /etc/coredns, readOnly: true }]
      volumes: [{ name: config, configMap: { name: coredns } }]
---
apiVersion: v1
kind: Service
metadata: { name: kube-dns, namespace: kube-system, labels: { k8s-app: kube-dns } }
spec:
  clusterIP: $DNS_IP
  selector: { k8s-app: kube-dns }
  ports:
    - { name: dns, port: 53, targetPort: $DNS_POD_PORT, protocol: UDP }
    - { name: dns-tcp, port: 53, targetPort: $DNS_POD_PORT, protocol: TCP }
EOF
}

gateway_objects() {
  cat <<EOF
apiVersion: v1
kind: Namespace
metadata: { name: $GATEWAY_NS }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: paas:traefik }
rules:
  - { apiGroups: [""], resources: [namespaces], verbs: [list, watch] }
  - { apiGroups: [""], resources: [pods], verbs: [get] }
  - { apiGroups: [""], resources: [services, secrets, configmaps], verbs: [get, list, watch] }
  - { apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch] }
  - apiGroups: [gateway.networking.k8s.io]
    resources: [gatewayclasses, gateways, httproutes, grpcroutes, tcproutes, tlsroutes, referencegrants, backendtlspolicies]
    verbs: [get, list, watch]
  - apiGroups: [gateway.networking.k8s.io]
    resources: [gatewayclasses/status, gateways/status, httproutes/status, grpcroutes/status, tcproutes/status, tlsroutes/status, referencegrants/status, backendtlspolicies/status]
    verbs: [update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: paas:traefik }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: paas:traefik }
subjects: [{ apiGroup: rbac.authorization.k8s.io, kind: User, name: paas:traefik }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: traefik }
spec: { controllerName: traefik.io/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: $GATEWAY_NAME, namespace: $GATEWAY_NS }
spec:
  gatewayClassName: traefik
  listeners:
    # Traefik maps a listener to the entry point with the same port.
    - { name: web, protocol: HTTP, port: $GATEWAY_PORT, allowedRoutes: { namespaces: { from: All } } }
EOF
}

# ---------------------------------------------------------------- control plane commands
# One definition of each control plane process for the main cluster and the planes: ports,
# PKI and state come from $ETCD_PORT, $API_PORT, $KCM_PORT, $PKI, $STATE (a plane sets its own).
etcd_cmd() {
  ETCD=("$BIN/etcd" --name "$CLUSTER_NAME" --data-dir "$STATE/etcd"
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT"
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT"
    --initial-cluster "$CLUSTER_NAME=http://127.0.0.1:$ETCD_PEER_PORT" --listen-metrics-urls "http://127.0.0.1:$ETCD_METRICS_PORT"
    --unsafe-no-fsync --snapshot-count 10000 --log-level warn)
}

# The admission plugins are the defaults (Pod Security, ValidatingAdmissionPolicy, quota,
# LimitRanger...) plus NodeRestriction, the same on every plane, so objects are judged alike.
apiserver_cmd() {
  local ip=$1
  # shellcheck disable=SC2054 # Node,RBAC is one value, not two elements
  APISERVER=("$BIN/kube-apiserver"
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --advertise-address "$ip" --secure-port "$API_PORT"
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=true
    --client-ca-file "$PKI/ca.crt" --tls-cert-file "$PKI/apiserver.crt" --tls-private-key-file "$PKI/apiserver.key"
    --kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" --kubelet-client-key "$PKI/apiserver-kubelet-client.key"
    --kubelet-preferred-address-types InternalIP
    --service-account-issuer https://kubernetes.default.svc.cluster.local
    --service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key"
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction
    --profiling=false --event-ttl 30m)
}

apiserver_ready() {
  curl -fsS --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$API_PORT/readyz"
}

controller_manager_cmd() {
  KCM=("$BIN/kube-controller-manager"
    --kubeconfig "$STATE/kubeconfigs/controller-manager.conf"
    --authentication-kubeconfig "$STATE/kubeconfigs/controller-manager.conf"
    --authorization-kubeconfig "$STATE/kubeconfigs/controller-manager.conf"
    --bind-address 127.0.0.1 --secure-port "$KCM_PORT" --leader-elect=false --use-service-account-credentials
    --cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key"
    --root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key"
    --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false)
}

# ---------------------------------------------------------------- commands
print_env() {
  cat <<EOF
export PAAS_TEST_KUBECONFIG=$KUBECONFIG_OUT
export PAAS_K8S_ROUTING=httproute
export PAAS_K8S_GATEWAY=$GATEWAY_NS/$GATEWAY_NAME
export PAAS_K8S_INGRESS_NAMESPACE=$GATEWAY_NS
export PAAS_PROBE_ADDRESS=http://127.0.0.1:$GATEWAY_PORT
export PAAS_CLUSTER_GATEWAY=http://127.0.0.1:$GATEWAY_PORT
export PAAS_CLUSTER_GATEWAY_METRICS=http://127.0.0.1:18081/metrics
export PAAS_CLUSTER_CONTAINERD=$RUNDIR/containerd/containerd.sock
export PAAS_CLUSTER_BIN=$BIN
EOF
}

up() {
  prerequisites
  build
  local ip t0
  t0=$(date +%s)
  ip=$(node_ip)
  # Nothing of ours running: whatever a crash left behind goes first.
  local any=""
  for c in "${COMPONENTS[@]}"; do running "$c" && any=1; done
  [ -n "$any" ] || clean_node
  pki "$ip"
  write_configs "$ip"

  # PATH: containerd starts the containerd-shim-runc-v2 found there, ours before Docker's.
  start containerd env PATH="$BIN:$PATH" "$BIN/containerd" --config "$STATE/containerd/config.toml"
  wait_for containerd 30 "$BIN/ctr" --address "$RUNDIR/containerd/containerd.sock" version
  if ! "$BIN/ctr" --address "$RUNDIR/containerd/containerd.sock" -n k8s.io images ls -q 2>/dev/null | grep -qxF "$(cat "$BIN/../pause.ref")"; then
    "$BIN/ctr" --address "$RUNDIR/containerd/containerd.sock" -n k8s.io images import "$BIN/../pause.tar" >>"$LOGS/containerd.log" 2>&1 ||
      fail_with_log containerd "could not import the pause image"
  fi
  if ! "$BIN/ctr" --address "$RUNDIR/containerd/containerd.sock" -n k8s.io images ls -q 2>/dev/null | grep -qxF "$(cat "$BIN/../coredns.ref")"; then
    "$BIN/ctr" --address "$RUNDIR/containerd/containerd.sock" -n k8s.io images import "$BIN/../coredns.tar" >>"$LOGS/containerd.log" 2>&1 ||
      fail_with_log containerd "could not import the CoreDNS image"
  fi

  etcd_cmd
  start etcd "${ETCD[@]}" --quota-backend-bytes 2147483648
  wait_for etcd 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"

  apiserver_cmd "$ip"
  start kube-apiserver "${APISERVER[@]}"
  wait_for kube-apiserver 120 apiserver_ready

  controller_manager_cmd
  start kube-controller-manager "${KCM[@]}"
  start kube-scheduler "$BIN/kube-scheduler" \
    --kubeconfig "$STATE/kubeconfigs/scheduler.conf" \
    --authentication-kubeconfig "$STATE/kubeconfigs/scheduler.conf" \
    --authorization-kubeconfig "$STATE/kubeconfigs/scheduler.conf" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false

  start kubelet "$BIN/kubelet" --config "$STATE/kubelet/config.yaml" \
    --kubeconfig "$STATE/kubeconfigs/kubelet.conf" --root-dir "$STATE/kubelet/root" \
    --cert-dir "$STATE/kubelet/pki" --hostname-override "$NODE_NAME" --node-ip "$ip"
  start kube-proxy "$BIN/kube-proxy" --config "$STATE/kube-proxy.yaml"

  wait_for kubelet 120 kubectl get node "$NODE_NAME"
  wait_for kubelet 120 kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout=2s

  # The cluster DNS (ready before `up` returns: see the end).
  system_objects | kubectl apply --server-side --force-conflicts --field-manager paas-cluster -f - >/dev/null ||
    die "could not create CoreDNS"

  # Gateway API: CRDs, Traefik's identity and the Gateway the apps' routes name.
  kubectl apply --server-side --force-conflicts --field-manager paas-cluster -f "$BIN/../crds" >/dev/null ||
    die "could not install the Gateway API CRDs"
  wait_for kube-apiserver 60 kubectl wait --for=condition=Established crd/gateways.gateway.networking.k8s.io crd/httproutes.gateway.networking.k8s.io --timeout=2s
  gateway_objects | kubectl apply --server-side --force-conflicts --field-manager paas-cluster -f - >/dev/null ||
    die "could not create the Gateway"
  start traefik env KUBECONFIG="$STATE/kubeconfigs/traefik.conf" "$BIN/traefik" \
    --global.checkNewVersion=false --global.sendAnonymousUsage=false \
    --entryPoints.web.address="127.0.0.1:$GATEWAY_PORT" \
    --entryPoints.traefik.address=127.0.0.1:18081 --ping=true --ping.entryPoint=traefik \
    --metrics.prometheus=true --metrics.prometheus.entryPoint=traefik --metrics.prometheus.addServicesLabels=true \
    --providers.kubernetesGateway=true --providers.kubernetesGateway.statusAddress.ip=127.0.0.1 \
    --log.level=INFO
  wait_for traefik 60 curl -fsS http://127.0.0.1:18081/ping
  wait_for traefik 60 kubectl -n "$GATEWAY_NS" wait --for=condition=Programmed "gateway/$GATEWAY_NAME" --timeout=2s
  wait_for kubelet 120 kubectl -n kube-system wait --for=condition=Available deployment/coredns --timeout=2s

  log "up in $(($(date +%s) - t0))s: Kubernetes $K8S_VERSION, node $NODE_NAME ($ip), Gateway $GATEWAY_NS/$GATEWAY_NAME on 127.0.0.1:$GATEWAY_PORT"
  log "kubeconfig: $KUBECONFIG_OUT; logs: $LOGS"
  print_env >"$STATE/env.tmp"
  mv "$STATE/env.tmp" "$STATE/env"
  cat "$STATE/env"
}

down() {
  local i
  for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
    [ "${COMPONENTS[$i]}" = containerd ] && continue
    stop "${COMPONENTS[$i]}"
  done
  clean_node # kills the pods' processes and shims while containerd still answers
  stop containerd
  clean_node
  if [ -x "${BIN:-}/kube-proxy" ]; then "$BIN/kube-proxy" --cleanup >/dev/null 2>&1 || true; fi
  log "stopped (state kept in $STATE; \`reset\` forgets it)"
}

status() {
  local rc=0
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then echo "$c: running (pid $(pid_of "$c"))"; else
      echo "$c: stopped"
      rc=1
    fi
  done
  if running kube-apiserver; then
    kubectl get node "$NODE_NAME" --no-headers 2>/dev/null || true
    kubectl -n "$GATEWAY_NS" get gateway "$GATEWAY_NAME" --no-headers 2>/dev/null || true
  fi
  return $rc
}

# ---------------------------------------------------------------- planes
# More control planes for tests of one deploy to many clusters: each its own etcd,
# kube-apiserver and kube-controller-manager (the same binaries and admission as the main
# cluster's), PKI and state under $PLANES_STATE/<i>, and no node: no kubelet, containerd,
# scheduler, kube-proxy or Traefik. A test registers a simulated node
# (test/support/sim-node.ts), which binds and reports the pods as the kubelet would.
# The controllers the App's objects need (Deployments, StatefulSets, Jobs, CronJobs,
# quota, namespace deletion, garbage collection, service account tokens, endpoints),
# not the node, volume binding, certificate or cloud ones: less memory on a small machine.
PLANE_CONTROLLERS=deployment-controller,replicaset-controller,statefulset-controller,job-controller,cronjob-controller
PLANE_CONTROLLERS+=,namespace-controller,garbage-collector-controller,serviceaccount-controller,serviceaccount-token-controller
PLANE_CONTROLLERS+=,endpoints-controller,endpointslice-controller,resourcequota-controller,pod-garbage-collector-controller
PLANE_CONTROLLERS+=,ttl-after-finished-controller,disruption-controller,horizontal-pod-autoscaler-controller
PLANE_CONTROLLERS+=,root-ca-certificate-publisher-controller,clusterrole-aggregation-controller
# Without these a claim (add-on services' volumes) keeps its finalizer and its namespace never goes.
PLANE_CONTROLLERS+=,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller

# in_plane I COMMAND...: runs COMMAND with plane I's state, PKI, ports and names in place of the
# main cluster's (bash's dynamic scope: the functions it calls see these locals).
in_plane() {
  local i=$1
  shift
  local STATE=$PLANES_STATE/$i
  local LOGS=$STATE/logs PKI=$STATE/pki KUBECONFIG_OUT=$STATE/kubeconfig
  local CLUSTER_NAME=paas-plane-$i CA_NAME=paas-plane-$i-ca P=plane-$i-
  local base=$((PLANES_PORT_BASE + 10 * i))
  local API_PORT=$base ETCD_PORT=$((base + 1)) ETCD_PEER_PORT=$((base + 2)) ETCD_METRICS_PORT=$((base + 3)) KCM_PORT=$((base + 4))
  "$@"
}

plane_pki() {
  pki_control_plane "$1"
  # The serving certificate of a simulated node's kubelet endpoint (pods/log goes there).
  cert sim-kubelet paas-sim-kubelet "" "DNS:localhost,IP:127.0.0.1"
}

# Small: a plane holds a few test environments.
plane_start_etcd() {
  etcd_cmd
  start "${P}etcd" env GOMEMLIMIT=64MiB "${ETCD[@]}" --quota-backend-bytes 268435456
}
plane_wait_etcd() { wait_for "${P}etcd" 30 curl -fsS "http://127.0.0.1:$ETCD_PORT/health"; }

plane_start_apiserver() {
  apiserver_cmd "$1"
  start "${P}kube-apiserver" env GOMEMLIMIT=192MiB "${APISERVER[@]}" --bind-address 127.0.0.1 \
    --max-requests-inflight 100 --max-mutating-requests-inflight 50
}
plane_wait_apiserver() { wait_for "${P}kube-apiserver" 120 apiserver_ready; }

plane_start_controller_manager() {
  controller_manager_cmd
  start "${P}kube-controller-manager" env GOMEMLIMIT=64MiB "${KCM[@]}" --controllers "$PLANE_CONTROLLERS"
}

# The Gateway API CRDs, as on the main cluster: the App's HTTPRoutes apply. No Gateway
# controller: the runtime does not wait for route status.
plane_objects() {
  wait_for "${P}kube-controller-manager" 60 curl -fsSk "https://127.0.0.1:$KCM_PORT/healthz"
  kubectl apply --server-side --force-conflicts --field-manager paas-cluster -f "$BIN/../crds" >/dev/null ||
    fail_with_log "${P}kube-apiserver" "could not install the Gateway API CRDs on plane $i"
}

plane_running() {
  local c
  for c in "${PLANE_COMPONENTS[@]}"; do running "${P}$c" || return 1; done
}

plane_env() {
  cat <<EOF
export PAAS_TEST_PLANE_${i}_KUBECONFIG=$KUBECONFIG_OUT
export PAAS_TEST_PLANE_${i}_KUBELET_CERT=$PKI/sim-kubelet.crt
export PAAS_TEST_PLANE_${i}_KUBELET_KEY=$PKI/sim-kubelet.key
EOF
}

plane_status() {
  local c rc=0
  echo "plane $i: API https://127.0.0.1:$API_PORT, etcd $ETCD_PORT (peer $ETCD_PEER_PORT, metrics $ETCD_METRICS_PORT), controller-manager $KCM_PORT, kubeconfig $KUBECONFIG_OUT"
  for c in "${PLANE_COMPONENTS[@]}"; do
    if running "${P}$c"; then echo "  $c: running (pid $(pid_of "${P}$c"))"; else
      echo "  $c: stopped"
      rc=1
    fi
  done
  if running "${P}kube-apiserver"; then kubectl get nodes --no-headers 2>/dev/null | sed 's/^/  node /' || true; fi
  return $rc
}

# planes_check N: planes 1..N run from the current build and the env file lists them (quiet).
planes_check() {
  local n=$1 i
  resolve_bin
  [ -f "$BIN/.complete" ] || return 1
  for ((i = 1; i <= n; i++)); do in_plane "$i" plane_running || return 1; done
  [ -f "$PLANES_STATE/env" ] && grep -qxF "export PAAS_CLUSTER_BIN=$BIN" "$PLANES_STATE/env" &&
    grep -q "^export PAAS_TEST_PLANE_${n}_KUBECONFIG=" "$PLANES_STATE/env"
}

planes_up() {
  local n=$1 i ip t0
  if planes_check "$n" 2>/dev/null; then
    cat "$PLANES_STATE/env"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "the planes run as root, as the main cluster: sudo bash scripts/cluster.sh planes up $n"
  command -v openssl >/dev/null 2>&1 || die "openssl is needed for the planes' certificates: apt-get install openssl"
  command -v curl >/dev/null 2>&1 || die "curl is needed to wait for the planes: apt-get install curl"
  build
  t0=$(date +%s)
  ip=$(node_ip)
  # Started side by side, one phase at a time: the waits overlap.
  for ((i = 1; i <= n; i++)); do
    in_plane "$i" plane_pki "$ip"
    in_plane "$i" plane_start_etcd
  done
  for ((i = 1; i <= n; i++)); do in_plane "$i" plane_wait_etcd; done
  for ((i = 1; i <= n; i++)); do in_plane "$i" plane_start_apiserver "$ip"; done
  for ((i = 1; i <= n; i++)); do in_plane "$i" plane_wait_apiserver; done
  for ((i = 1; i <= n; i++)); do in_plane "$i" plane_start_controller_manager; done
  for ((i = 1; i <= n; i++)); do in_plane "$i" plane_objects; done
  {
    echo "export PAAS_TEST_PLANES=$n"
    for ((i = 1; i <= n; i++)); do in_plane "$i" plane_env; done
    echo "export PAAS_CLUSTER_BIN=$BIN"
  } >"$PLANES_STATE/env.tmp"
  mv "$PLANES_STATE/env.tmp" "$PLANES_STATE/env"
  log "$n control planes up in $(($(date +%s) - t0))s (ports from $((PLANES_PORT_BASE + 10)); logs in $PLANES_STATE/<i>/logs)"
  cat "$PLANES_STATE/env"
}

# Every plane that runs, whatever N it was started with.
planes_down() {
  local c f
  for c in kube-controller-manager kube-apiserver etcd; do
    for f in "$RUNDIR"/pids/plane-*-"$c".pid; do
      [ -e "$f" ] || continue
      f=${f##*/}
      stop "${f%.pid}"
    done
  done
  rm -f "$PLANES_STATE/env"
}

planes_indexes() {
  local d
  for d in "$PLANES_STATE"/[0-9]*; do [ -d "$d" ] && echo "${d##*/}"; done | sort -n
}

planes() {
  local sub=${1:-} n=${2:-2}
  [[ $n =~ ^[1-9][0-9]?$ ]] || die "planes: N is a number of planes from 1 to 99, not '$n'"
  case "$sub" in
    up | down)
      mkdir -p "$RUNDIR" "$CACHE" "$PLANES_STATE"
      # The main cluster's lock: a build under way elsewhere (setup.sh, CI) is waited for, not repeated.
      exec 9>"$RUNDIR/lock"
      flock 9
      if [ "$sub" = up ]; then planes_up "$n"; else
        planes_down
        log "planes stopped (state kept in $PLANES_STATE)"
      fi
      ;;
    check) planes_check "$n" ;;
    status)
      resolve_bin
      local i rc=0 any=""
      for i in $(planes_indexes); do
        any=1
        in_plane "$i" plane_status || rc=1
      done
      [ -n "$any" ] || {
        echo "no planes (bash scripts/cluster.sh planes up)"
        rc=1
      }
      return $rc
      ;;
    env)
      [ -f "$PLANES_STATE/env" ] || die "no planes here yet: bash scripts/cluster.sh planes up"
      cat "$PLANES_STATE/env"
      ;;
    *) die "planes: up|down|status|check|env [N], not '$sub'" ;;
  esac
}

CMD=${1:-}
case "$CMD" in
  up | down | reset | build)
    mkdir -p "$RUNDIR" "$CACHE"
    # One `up`/`down` at a time: a second one waits, then finds the work done.
    exec 9>"$RUNDIR/lock"
    flock 9
    case "$CMD" in
      up) up ;;
      build) build ;;
      down)
        resolve_bin 2>/dev/null || true
        planes_down
        down
        ;;
      reset)
        resolve_bin 2>/dev/null || true
        planes_down
        down
        rm -rf "$STATE" "$PLANES_STATE"
        log "forgot the cluster and its planes ($STATE, $PLANES_STATE removed; binaries kept in $CACHE)"
        ;;
    esac
    ;;
  env)
    [ -f "$STATE/env" ] || die "no cluster here yet: bash scripts/cluster.sh up"
    cat "$STATE/env"
    ;;
  status)
    resolve_bin
    status
    ;;
  check)
    # Quiet and quick (for scripts/setup.sh, run before every `npm test`): the current build's
    # binaries are present and every component runs from them.
    resolve_bin
    [ -f "$BIN/.complete" ] || exit 1
    for c in "${COMPONENTS[@]}"; do running "$c" || exit 1; done
    [ -f "$STATE/env" ] && grep -qxF "export PAAS_CLUSTER_BIN=$BIN" "$STATE/env"
    ;;
  planes)
    planes "${@:2}"
    ;;
  logs)
    if [ -n "${2:-}" ]; then tail -n 100 "$LOGS/$2.log"; else tail -n 5 "$LOGS"/*.log; fi
    ;;
  *)
    sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
