#!/bin/sh
# Entry point of the local Postgres image (scripts/base-images.sh), built from
# Debian's postgresql package. It behaves like the official image's for what
# paas uses: POSTGRES_PASSWORD (required), POSTGRES_USER (default postgres) and
# POSTGRES_DB (default the user) create the cluster on the first start in an
# empty PGDATA; later starts keep the data and ignore them; the server listens
# on every address, port 5432, and asks every TCP client for its password.
# Started as root it hands the data folder to the postgres user and drops to it.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA
if [ "${1#-}" != "${1:-}" ]; then set -- postgres "$@"; fi
if [ "${1:-}" != postgres ]; then exec "$@"; fi

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  # Only what is not the user's yet: a large data folder is not walked twice.
  find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres {} +
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "error: the database is not initialized and POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  user="${POSTGRES_USER:-postgres}"
  db="${POSTGRES_DB:-$user}"
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --encoding=UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  if [ "$db" != postgres ]; then
    # Single-user mode: no server listens before the database exists.
    printf 'CREATE DATABASE "%s" OWNER "%s"\n' "$(printf '%s' "$db" | sed 's/"/""/g')" \
      "$(printf '%s' "$user" | sed 's/"/""/g')" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "initialized the database $db for $user in $PGDATA"
fi
exec "$@"
