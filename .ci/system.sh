#!/usr/bin/env bash
# Installs and starts the real system parts the tests need, when missing:
# Docker engine (dockerd), docker-registry, Caddy, debootstrap; then the local
# base images (cached in the engine between runs).
set -euo pipefail
pkgs=()
command -v dockerd >/dev/null 2>&1 || pkgs+=(docker.io)
command -v caddy >/dev/null 2>&1 || pkgs+=(caddy)
command -v docker-registry >/dev/null 2>&1 || pkgs+=(docker-registry)
command -v debootstrap >/dev/null 2>&1 || pkgs+=(debootstrap)
command -v htpasswd >/dev/null 2>&1 || pkgs+=(apache2-utils)
if [ ${#pkgs[@]} -gt 0 ]; then
  echo "::group::apt-get install ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
  echo "::endgroup::"
fi
# The distribution's caddy and docker-registry start services we do not use.
systemctl disable --now caddy docker-registry >/dev/null 2>&1 || true
if ! docker info >/dev/null 2>&1; then
  echo "starting dockerd"
  (setsid dockerd >/tmp/paas-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 /tmp/paas-dockerd.log; exit 1; }
fi
echo "::group::local base images"
bash "$(dirname "$0")/base-images.sh"
echo "::endgroup::"
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^paas-base/' || true
