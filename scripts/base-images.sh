#!/usr/bin/env bash
# Builds the local base images the tests use in place of Docker Hub's official
# images (no public registry is reachable from these machines). Each image is a
# debootstrap'd Debian bookworm minbase plus one toolchain. Run as root by
# scripts/setup.sh (part base-images) when one is missing or out of date.
# Idempotent: images already in the engine with the wanted toolchain are kept,
# so a machine pays for this once per toolchain.
#
# The Go and Rust builders carry the machine's own toolchains (current ones, as
# installed from their official distributions), not Debian's (Go 1.19 and
# Rust 1.63 in bookworm are too old for today's module and crate trees).
#
# usage: bash scripts/base-images.sh            build what is missing or stale
#        bash scripts/base-images.sh --missing  print the names to build, one a line
#
# paas-base/noshell:bookworm is the runtime image without a shell (see
# build_noshell), standing in for distroless. paas-base/postgres:bookworm and
# paas-base/redis:bookworm stand in for the official postgres and redis images
# that add-on services run (see build_service): Debian's packages behind an
# entry point that behaves like the official one (scripts/service-images/).
set -euo pipefail
MIRROR="${PAAS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${PAAS_BASE_CACHE:-/var/cache/paas-base}"
# Bumped when what goes into a builder image changes, so machines rebuild it.
REVISION=4
# Certificate authorities this machine adds to Debian's (a TLS-inspecting egress
# proxy's): the builders trust them too, or they cannot reach PyPI, the Go module
# proxy or crates.io from here.
EXTRA_CAS=/usr/local/share/ca-certificates
ca_id() { cat "$EXTRA_CAS"/*.crt 2>/dev/null | sha256sum | cut -c1-12; }

declare -A PKGS=(
  [runtime]="ca-certificates"
  [python]="ca-certificates python3 python3-venv python-is-python3"
  [go]="ca-certificates git"
  # cargo links with the system C compiler; git for git dependencies.
  [rust]="ca-certificates gcc libc6-dev git"
)
# Bumped when what goes into a service image (packages, entry point) changes.
SERVICE_REVISION=2
SERVICE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/service-images"

die() {
  echo "base-images: error: $*" >&2
  exit 1
}

# The Go tree of the machine's toolchain (GOROOT), and its version.
go_root() {
  command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] ||
    die "no Go toolchain on this machine: install Go from https://go.dev/dl (the builder image copies it)"
  local go=go
  command -v go >/dev/null 2>&1 || go=/usr/local/go/bin/go
  "$go" env GOROOT
}
go_version() { "$(go_root)/bin/go" env GOVERSION; }

# The Rust toolchain of the machine (rustup's sysroot), and its version.
rust_root() {
  local rustc
  rustc="$(command -v rustc 2>/dev/null || true)"
  [ -n "$rustc" ] || rustc="${SUDO_USER:+$(getent passwd "$SUDO_USER" | cut -d: -f6)}/.cargo/bin/rustc"
  [ -x "$rustc" ] || rustc="$HOME/.cargo/bin/rustc"
  [ -x "$rustc" ] || die "no Rust toolchain on this machine: install it with rustup (https://rustup.rs); the builder image copies it"
  "$rustc" --print sysroot
}
rust_version() { "$(rust_root)/bin/rustc" --version | cut -d' ' -f2; }

# What an image of this name must carry: checked against its label.
wanted() {
  case "$1" in
    python) echo "$REVISION ca-$(ca_id)" ;;
    go) echo "$REVISION go$(go_version | sed 's/^go//') ca-$(ca_id)" ;;
    rust) echo "$REVISION rust$(rust_version) ca-$(ca_id)" ;;
    postgres | redis) echo "service-$SERVICE_REVISION $(sha256sum "$SERVICE_DIR/$1-entrypoint.sh" | cut -c1-12)" ;;
  esac
}

have() {
  local label
  # The runtime images carry Debian's packages only: being there is enough.
  case "$1" in python | go | rust | postgres | redis) ;; *)
    docker image inspect "paas-base/$1:bookworm" >/dev/null 2>&1
    return
    ;;
  esac
  label="$(docker image inspect --format '{{index .Config.Labels "paas.base"}}' "paas-base/$1:bookworm" 2>/dev/null)" || return 1
  [ "$label" = "$(wanted "$1")" ]
}

if [ "${1:-}" = "--missing" ]; then
  # A query: an image whose wanted label cannot be computed here (no toolchain) is reported, quietly.
  for name in runtime python go rust noshell postgres redis; do have "$name" 2>/dev/null || echo "$name"; done
  exit 0
fi

mkdir -p "$CACHE/debs"

build_root() {
  local root="$CACHE/rootfs-minbase"
  if [ ! -f "$root/.complete" ]; then
    rm -rf "$root"
    debootstrap --variant=minbase --cache-dir="$CACHE/debs" bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
    touch "$root/.complete"
  fi
}

# Copies the machine's toolchain into the image tree; prints extra `docker import --change` lines.
add_toolchain() {
  local name="$1" dir="$2" src
  case "$name" in
    go)
      src="$(go_root)"
      mkdir -p "$dir/usr/local/go"
      # The whole GOROOT minus tests and docs: `go build` needs src/ and pkg/tool.
      tar -C "$src" --exclude='./test' --exclude='./doc' --exclude='./api' -c . | tar -C "$dir/usr/local/go" -x
      echo "ENV GOROOT=/usr/local/go GOPATH=/go GOTOOLCHAIN=local"
      echo "ENV PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
      ;;
    rust)
      src="$(rust_root)"
      mkdir -p "$dir/usr/local/rust" "$dir/usr/local/cargo"
      # bin, lib and libexec: the compiler, cargo and the standard library (no docs).
      tar -C "$src" -c bin lib libexec | tar -C "$dir/usr/local/rust" -x
      echo "ENV CARGO_HOME=/usr/local/cargo"
      echo "ENV PATH=/usr/local/rust/bin:/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
      ;;
    *) echo "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" ;;
  esac
  # pip, uv and Poetry (requests) bring their own CA lists unless told to use the system's (which has the machine's CAs).
  [ "$name" = runtime ] || echo "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt CARGO_HTTP_CAINFO=/etc/ssl/certs/ca-certificates.crt"
}

for name in runtime python go rust; do
  have "$name" && continue
  build_root
  dir="$CACHE/rootfs-$name"
  rm -rf "$dir"; cp -a "$CACHE/rootfs-minbase" "$dir"; rm -f "$dir/.complete"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  mount --bind "$CACHE/debs" "$dir/var/cache/apt/archives" 2>/dev/null || true
  chroot "$dir" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${PKGS[$name]} >/dev/null && apt-get clean"
  if [ "$name" != runtime ] && compgen -G "$EXTRA_CAS/*.crt" >/dev/null; then
    cp "$EXTRA_CAS"/*.crt "$dir/usr/local/share/ca-certificates/"
    chroot "$dir" update-ca-certificates >/dev/null
  fi
  umount "$dir/var/cache/apt/archives" 2>/dev/null || true
  rm -rf "$dir/var/lib/apt/lists/"*
  # Through a file, so a failing toolchain copy stops the script (set -e).
  add_toolchain "$name" "$dir" >"$dir.env"
  changes=()
  while IFS= read -r line; do changes+=(--change "$line"); done <"$dir.env"
  rm -f "$dir.env"
  tar -C "$dir" -c . | docker import "${changes[@]}" \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL paas.base=\"$(wanted "$name")\"" \
    - "paas-base/$name:bookworm" >/dev/null
  rm -rf "$dir"
  echo "built paas-base/$name:bookworm"
done

# A runtime image like distroless: the C library, libgcc, CA certificates and
# /etc, but no shell and no programs at all (no /bin/sh, no coreutils), so a
# start command that needs a shell fails here as it does on distroless. Derived
# from paas-base/runtime by deleting every executable directory's contents.
build_noshell() {
  have noshell && return 0
  local dir cid
  dir="$(mktemp -d "$CACHE/rootfs-noshell.XXXXXX")"
  cid="$(docker create paas-base/runtime:bookworm /nonexistent)"
  docker export "$cid" | tar -C "$dir" -x
  docker rm "$cid" >/dev/null
  rm -rf "${dir:?}"/usr/bin/* "$dir"/usr/sbin/* "$dir"/usr/local/bin/* "$dir"/usr/local/sbin/* \
    "$dir"/usr/libexec "$dir"/usr/share/doc "$dir"/usr/share/man "$dir"/usr/share/info \
    "$dir"/usr/share/locale "$dir"/var/lib/dpkg "$dir"/var/lib/apt "$dir"/var/cache/* "$dir"/.dockerenv
  if [ -e "$dir/bin/sh" ] || [ -e "$dir/usr/bin/sh" ]; then
    echo "paas-base/noshell: a shell is left in $dir" >&2; exit 1
  fi
  tar -C "$dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    - "paas-base/noshell:bookworm" >/dev/null
  rm -rf "$dir"
  echo "built paas-base/noshell:bookworm"
}
build_noshell

# An add-on service image: the minbase tree plus Debian's server package, its
# entry point (scripts/service-images/<name>-entrypoint.sh) and the official
# image's port, data folder and default command.
build_service() {
  local name="$1" pkg dir changes=()
  have "$name" && return 0
  build_root
  case "$name" in
    postgres)
      pkg=postgresql
      changes=(--change 'ENV PGDATA=/var/lib/postgresql/data' --change 'EXPOSE 5432' --change 'CMD ["postgres"]')
      ;;
    redis)
      pkg=redis-server
      changes=(--change 'WORKDIR /data' --change 'EXPOSE 6379' --change 'CMD ["redis-server"]')
      ;;
  esac
  dir="$CACHE/rootfs-$name"
  rm -rf "$dir"; cp -a "$CACHE/rootfs-minbase" "$dir"; rm -f "$dir/.complete"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  # No service starts inside the chroot while the package installs.
  printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"; chmod +x "$dir/usr/sbin/policy-rc.d"
  # The official images' user: uid and gid 999, so a pod run as 999 (restricted Pod Security) owns its data.
  chroot "$dir" /bin/sh -c "groupadd -r -g 999 $name && useradd -r -g $name -u 999 -d /var/lib/$name $name"
  mount --bind "$CACHE/debs" "$dir/var/cache/apt/archives" 2>/dev/null || true
  chroot "$dir" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkg >/dev/null 2>&1 && apt-get clean" \
    || die "could not install $pkg into paas-base/$name"
  umount "$dir/var/cache/apt/archives" 2>/dev/null || true
  rm -rf "$dir/var/lib/apt/lists/"* "$dir/usr/sbin/policy-rc.d"
  if [ "$name" = postgres ]; then
    # The package's own cluster is not used: the entry point creates one in PGDATA.
    rm -rf "$dir"/var/lib/postgresql/* "$dir"/etc/postgresql/*
    local bin
    bin="$(cd "$dir" && echo usr/lib/postgresql/*/bin)"
    [ -x "$dir/$bin/postgres" ] || die "postgresql installed no server under /usr/lib/postgresql"
    changes+=(--change "ENV PATH=/$bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
  else
    changes+=(--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    mkdir -p "$dir/data"
  fi
  install -m 755 "$SERVICE_DIR/$name-entrypoint.sh" "$dir/usr/local/bin/docker-entrypoint.sh"
  tar -C "$dir" -c . | docker import "${changes[@]}" \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'ENV LANG=C.UTF-8' \
    --change "LABEL paas.base=\"$(wanted "$name")\"" \
    - "paas-base/$name:bookworm" >/dev/null
  rm -rf "$dir"
  echo "built paas-base/$name:bookworm"
}
build_service postgres
build_service redis
