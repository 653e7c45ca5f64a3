#!/bin/sh
# Entry point of the local Redis image (scripts/base-images.sh), built from
# Debian's redis-server package. Like the official image's: arguments starting
# with - go to redis-server; started as root it hands /data (the working
# folder, where Redis writes its files) to the redis user and drops to it.
set -eu
if [ "${1#-}" != "${1:-}" ]; then set -- redis-server "$@"; fi
if [ "${1:-}" = redis-server ] && [ "$(id -u)" = 0 ]; then
  mkdir -p /data
  find /data \! -user redis -exec chown redis:redis {} +
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi
exec "$@"
