#!/usr/bin/env bash
# A throwaway PostgreSQL server for the test suite, from Debian's packages; prints its URL.
#   scripts/postgres-test-server.sh          start it if it is not running, print the URL
#   scripts/postgres-test-server.sh stop     stop it (the data stay for the next start)
#   scripts/postgres-test-server.sh destroy  stop it and delete its data
# Idempotent: a running server is reused. The cluster lives in $NEXTOFKIN_PG_DIR (default
# ${TMPDIR:-/tmp}/nextofkin-pg-<uid>), listens on 127.0.0.1 only, on a free port, with trust
# authentication and fsync off: a test fixture, never a place for real data. PostgreSQL refuses
# to run as root, so as root the cluster belongs to the `postgres` user the package creates.
set -euo pipefail

DIR="${NEXTOFKIN_PG_DIR:-${TMPDIR:-/tmp}/nextofkin-pg-$(id -u)}"
DATA="$DIR/data"
BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [[ -z "$BIN" || ! -x "$BIN/initdb" ]]; then
    echo "PostgreSQL server binaries not found under /usr/lib/postgresql: run" \
         "scripts/setup-system.sh --dev" >&2
    exit 1
fi

AS=()
if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || { echo "no 'postgres' user to run the server as" >&2; exit 1; }
    AS=(runuser -u postgres --)
fi

pg() { "${AS[@]}" "$BIN/pg_ctl" -D "$DATA" "$@"; }

case "${1:-start}" in
    stop)
        [[ -f "$DATA/PG_VERSION" ]] && pg status >/dev/null 2>&1 && pg stop -m fast >/dev/null
        exit 0 ;;
    destroy)
        [[ -f "$DATA/PG_VERSION" ]] && pg status >/dev/null 2>&1 && pg stop -m fast >/dev/null
        rm -rf "$DIR"
        exit 0 ;;
    start) ;;
    *) echo "usage: $0 [start|stop|destroy]" >&2; exit 2 ;;
esac

mkdir -p "$DIR"
chmod 700 "$DIR"
[[ ${#AS[@]} -gt 0 ]] && chown postgres: "$DIR"
if [[ ! -f "$DATA/PG_VERSION" ]]; then
    "${AS[@]}" "$BIN/initdb" -D "$DATA" -U nextofkin --auth=trust -E UTF8 --no-locale \
        --no-sync >"$DIR/initdb.log" 2>&1 || { cat "$DIR/initdb.log" >&2; exit 1; }
fi

if ! pg status >/dev/null 2>&1; then
    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    pg start -w -t 60 -l "$DIR/server.log" -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        >/dev/null || { tail -n 20 "$DIR/server.log" >&2; exit 1; }
    echo "$PORT" > "$DIR/port"
fi
PORT="$(cat "$DIR/port")"
echo "postgresql+psycopg://nextofkin@127.0.0.1:$PORT/postgres"
