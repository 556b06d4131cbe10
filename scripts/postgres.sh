#!/usr/bin/env bash
# Install PostgreSQL from Debian's packages (if missing) and start a throwaway server on
# loopback for the test suite. Prints the SQLAlchemy URL on its last line.
#   usage: bash scripts/postgres.sh [DATA_DIR] [PORT]   (default: /tmp/archsampler-pg, a free port)
set -euo pipefail
DATA="${1:-/tmp/archsampler-pg}"
PORT="${2:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
BIN="$(dirname "$(ls -d /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ -f "$DATA/postmaster.pid" ]; then
  as_pg "$BIN/pg_ctl" -D "$DATA" -m fast stop >&2 || true
fi
rm -rf "$DATA"
mkdir -p "$DATA"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust >/dev/null
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
  -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on" start >&2
as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -q -c "CREATE DATABASE archsampler" >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/archsampler"
