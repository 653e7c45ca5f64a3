#!/usr/bin/env bash
# Builds the local base images the tests use in place of Docker Hub's official
# images (no public registry is reachable from these machines). Each image is a
# debootstrap'd Debian bookworm minbase plus one toolchain. Run as root by
# scripts/setup.sh (part base-images) when one is missing. Idempotent: images
# already in the engine are kept, so a machine pays for this once.
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
