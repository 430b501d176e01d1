#!/usr/bin/env bash
# A local Ray cluster for the cluster-ingest tests and benchmarks: a head and WORKERS worker
# nodes on 127.0.0.1, each with one CPU and a small object store; prints the head's address.
#   scripts/ray-cluster.sh [start] [WORKERS]  start it if it is not running, print the address
#   scripts/ray-cluster.sh stop               stop it (every process it started, nothing else)
# Idempotent: a running cluster is reused (a different WORKERS restarts it). Each node runs
# `ray start --block` in its own process group, recorded in $NEXTOFKIN_RAY_DIR (default
# ${TMPDIR:-/tmp}/nok-ray-<uid>), so stop ends exactly those groups: never `ray stop`, which
# would end every Ray process of the user on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR="${NEXTOFKIN_RAY_DIR:-${TMPDIR:-/tmp}/nok-ray-$(id -u)}"
RAY=.venv/bin/ray
[[ -x "$RAY" ]] || { echo "Ray is not installed: pip install -e '.[cluster]'" >&2; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

alive() { [[ -f "$1" ]] && kill -0 -- "-$(cat "$1")" 2>/dev/null; }

stop_all() {
    local pidfile pgid
    for pidfile in "$DIR"/node-*.pid; do
        [[ -f "$pidfile" ]] || continue
        pgid="$(cat "$pidfile")"
        kill -TERM -- "-$pgid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$pgid" 2>/dev/null || true
        rm -f "$pidfile"
    done
    rm -f "$DIR/address" "$DIR/workers"
}

node() {  # node NAME ARGS...: one `ray start --block` in a new session, its id recorded
    local name="$1"; shift
    # Started from Python for its exact pid (setsid(1) may fork, and $! would name the parent).
    .venv/bin/python -c 'import subprocess, sys
out = open(sys.argv[1], "w")
p = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT,
                     stdin=subprocess.DEVNULL, start_new_session=True)
print(p.pid)' "$DIR/$name.log" "$RAY" start --block --num-cpus 1 \
        --object-store-memory 100000000 --dashboard-agent-listen-port "$(free_port)" \
        "$@" > "$DIR/$name.pid"
}

started() {  # started LOG: wait until that node says it runs (or its group died)
    local name="$1"
    for _ in $(seq 180); do
        grep -q "Ray runtime started" "$DIR/$name.log" 2>/dev/null && return 0
        alive "$DIR/$name.pid" || break
        sleep 0.5
    done
    tail -n 20 "$DIR/$name.log" >&2
    return 1
}

nodes_up() {  # nodes_up ADDRESS N: wait until the head sees N live nodes
    .venv/bin/python - "$1" "$2" <<'PY'
import sys, time
import ray
ray.init(address=sys.argv[1], log_to_driver=False, configure_logging=False)
for _ in range(120):
    if sum(1 for n in ray.nodes() if n["Alive"]) >= int(sys.argv[2]):
        sys.exit(0)
    time.sleep(0.5)
sys.exit(1)
PY
}

case "${1:-start}" in
    stop) stop_all; exit 0 ;;
    start|[0-9]*) ;;
    *) echo "usage: $0 [start [WORKERS]|stop]" >&2; exit 2 ;;
esac
[[ "${1:-start}" == start ]] && shift || true
WORKERS="${1:-1}"

mkdir -p "$DIR"
if alive "$DIR/node-head.pid" && [[ -f "$DIR/address" && "$(cat "$DIR/workers" 2>/dev/null)" == "$WORKERS" ]]; then
    cat "$DIR/address"
    exit 0
fi
stop_all
# Token authentication: Ray advertises the machine's address even for 127.0.0.1, so the
# cluster is reachable from the network; only holders of this token may use it. Drivers set
# RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH=$DIR/auth_token (the tests do).
[[ -s "$DIR/auth_token" ]] || python3 -c 'import secrets; print(secrets.token_hex(32), end="")' > "$DIR/auth_token"
chmod 600 "$DIR/auth_token"
export RAY_USAGE_STATS_ENABLED=0 RAY_DEDUP_LOGS=0 RAY_AUTH_MODE=token RAY_AUTH_TOKEN_PATH="$DIR/auth_token"
PORT="$(free_port)"
ADDRESS="127.0.0.1:$PORT"
node node-head --head --node-ip-address 127.0.0.1 --port "$PORT" --include-dashboard false \
    --ray-client-server-port "$(free_port)" --temp-dir "$DIR/tmp"
started node-head || { stop_all; exit 1; }
for i in $(seq "$WORKERS"); do
    node "node-worker$i" --address "$ADDRESS" --node-ip-address 127.0.0.1
done
for i in $(seq "$WORKERS"); do started "node-worker$i" || { stop_all; exit 1; }; done
nodes_up "$ADDRESS" $((WORKERS + 1)) >"$DIR/check.log" 2>&1 || { tail -n 20 "$DIR/check.log" >&2; stop_all; exit 1; }
echo "$ADDRESS" > "$DIR/address"
echo "$WORKERS" > "$DIR/workers"
echo "$ADDRESS"
