#!/usr/bin/env bash
# Builds the local base images the tests use in place of Docker Hub's official
# images (no public registry is reachable from these machines). Each image is a
# debootstrap'd Debian bookworm minbase plus one toolchain. Run as root by
# scripts/setup.sh (part base-images) when one is missing. Idempotent: images
# already in the engine are kept, so a machine pays for this once.
# paas-base/noshell:bookworm is the runtime image without a shell (see
# build_noshell), standing in for distroless.
set -euo pipefail
MIRROR="${PAAS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
CACHE="${PAAS_BASE_CACHE:-/var/cache/paas-base}"
mkdir -p "$CACHE/debs"

declare -A PKGS=(
  [runtime]="ca-certificates"
  [python]="ca-certificates python3 python3-venv python-is-python3"
  [go]="ca-certificates golang-go"
  [rust]="ca-certificates rustc cargo libc6-dev"
)

have() { docker image inspect "paas-base/$1:bookworm" >/dev/null 2>&1; }

build_root() {
  local root="$CACHE/rootfs-minbase"
  if [ ! -f "$root/.complete" ]; then
    rm -rf "$root"
    debootstrap --variant=minbase --cache-dir="$CACHE/debs" bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log"; exit 1; }
    touch "$root/.complete"
  fi
}

for name in runtime python go rust; do
  have "$name" && continue
  build_root
  dir="$CACHE/rootfs-$name"
  rm -rf "$dir"; cp -a "$CACHE/rootfs-minbase" "$dir"; rm -f "$dir/.complete"
  cp /etc/resolv.conf "$dir/etc/resolv.conf"
  mount --bind "$CACHE/debs" "$dir/var/cache/apt/archives" 2>/dev/null || true
  chroot "$dir" /bin/sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${PKGS[$name]} >/dev/null && apt-get clean"
  umount "$dir/var/cache/apt/archives" 2>/dev/null || true
  rm -rf "$dir/var/lib/apt/lists/"*
  tar -C "$dir" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
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
