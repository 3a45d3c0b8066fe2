#!/usr/bin/env bash
# Throwaway PostgreSQL server for CI and local integration tests (Recipe A in environment.md):
# a fresh cluster in a temp dir, owned by the non-root 'postgres' user (initdb refuses root),
# listening on a free loopback port with its socket in the temp dir, trust auth, fsync=off.
#
# Usage (sourced, so the exports reach the caller):
#   source scripts/pg_up.sh      # exports PGBIN PGDIR PGPORT VENUE_PG_URL DAGSTER_PG_URL; defines pg_down
#   ...
#   pg_down                      # fast shutdown + removes the temp dir (idempotent)
# Executed directly (`bash scripts/pg_up.sh`) it starts a server and prints the exports and the stop command.

_pg_up_main() {
  local pgbin run_as=()
  pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$pgbin" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "pg_up: no /usr/lib/postgresql/*/bin and not root; install the 'postgresql' package" >&2
      return 1
    fi
    echo "pg_up: installing postgresql (apt)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
    pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
  if [ "$(id -u)" -eq 0 ]; then
    id -u postgres >/dev/null 2>&1 || useradd --system --create-home --shell /bin/bash postgres || return 1
    run_as=(runuser -u postgres --)
  fi
  PGDIR=${PGDIR:-$(mktemp -d /tmp/pgci.XXXXXX)} || return 1
  PGPORT=${PGPORT:-$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')} || return 1
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PGDIR"
  if ! "${run_as[@]}" "$pgbin/initdb" -D "$PGDIR/data" -U postgres -A trust -E UTF8 --no-locale >"$PGDIR/initdb.log" 2>&1; then
    echo "pg_up: initdb failed:" >&2; cat "$PGDIR/initdb.log" >&2; return 1
  fi
  if ! "${run_as[@]}" "$pgbin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
      -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null; then
    echo "pg_up: server did not start:" >&2; tail -50 "$PGDIR/server.log" >&2; return 1
  fi
  local db
  for db in dagster venues; do
    "${run_as[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres "$db" || return 1
  done
  PGBIN=$pgbin
  PG_RUN_AS=${run_as[*]:-}
  export PGBIN PGDIR PGPORT PG_RUN_AS
  # +psycopg2: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which dagster-postgres cannot use.
  export VENUE_PG_URL="postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/venues"
  export DAGSTER_PG_URL="postgresql+psycopg2://postgres@127.0.0.1:$PGPORT/dagster"
  echo "pg_up: PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT (data in $PGDIR)" >&2
}

pg_down() {
  # Stop the server started by _pg_up_main and remove its directory; safe to call twice.
  [ -n "${PGDIR:-}" ] && [ -d "$PGDIR" ] || return 0
  if [ -n "${PGBIN:-}" ] && [ -f "$PGDIR/data/postmaster.pid" ]; then
    # shellcheck disable=SC2086
    $PG_RUN_AS "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 \
      || $PG_RUN_AS "$PGBIN/pg_ctl" -D "$PGDIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [ -n "${PG_KEEP_LOG:-}" ] && cp "$PGDIR/server.log" "$PG_KEEP_LOG" 2>/dev/null || true
  rm -rf "$PGDIR"
  unset PGDIR
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  # Executed, not sourced: start, then print how to use and stop it.
  set -euo pipefail
  _pg_up_main
  echo "export VENUE_PG_URL='$VENUE_PG_URL' DAGSTER_PG_URL='$DAGSTER_PG_URL'"
  echo "# stop: ${PG_RUN_AS:+$PG_RUN_AS }$PGBIN/pg_ctl -D $PGDIR/data -m fast stop && rm -rf $PGDIR"
else
  _pg_up_main
fi
