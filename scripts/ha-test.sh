#!/usr/bin/env bash
# The high-availability harness (docs/ha.md): a pg_auto_failover monitor, a primary and a
# synchronous standby (packaging/ha/pg-node.sh, as the postgres user, own data directories under
# a temporary directory, 127.0.0.1 on free high ports), then tests/tests/ha.rs, which puts two
# hotspot-cloud replicas behind haproxy (packaging/ha/haproxy.cfg), drives simulated routers and
# M-Pesa purchases through it, and kills a replica and the primary under load.
#
# Needs root (the nodes run as the postgres user) and the binaries built
# (cargo build --workspace --bins). Bounded: the whole run is killed after HA_TIMEOUT seconds
# (default 300).
#
# HA_FAILURE_MODES=1 then runs the opt-in failure modes on the cluster the tests left (about a
# minute more): the old primary rejoins as a standby, the synchronous standby is lost, the
# monitor is lost (docs/ha.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

[ "$(id -u)" -eq 0 ] || die "run as root: the database nodes run as the postgres user"
ensure_packages postgresql postgresql-client postgresql-15-auto-failover pg-auto-failover-cli haproxy

started=$(date +%s)
dir=$(mktemp -d /tmp/hotspot-ha.XXXXXX)
chown postgres: "$dir"
chmod 0755 "$dir"
groups=()
cleanup() {
    local g
    # Keepers the failure-mode test started again.
    if [ -f "$dir/test-groups" ]; then
        while read -r g; do groups+=("$g"); done < "$dir/test-groups"
    fi
    for g in "${groups[@]}"; do kill -TERM -- "-$g" 2> /dev/null || true; done
    sleep 1
    for g in "${groups[@]}"; do kill -KILL -- "-$g" 2> /dev/null || true; done
    if [ -n "${HA_KEEP-}" ]; then
        echo "kept $dir"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT

node_env=(env "XDG_CONFIG_HOME=$dir/config" "XDG_DATA_HOME=$dir/share" "XDG_RUNTIME_DIR=$dir/run")
as_postgres() { runuser -u postgres -- "${node_env[@]}" "$@"; }

# run_node NAME: the node's keeper in a process group of its own (the test kills a node whole).
run_node() {
    setsid runuser -u postgres -- "${node_env[@]}" bash packaging/ha/pg-node.sh run "$dir/$1" \
        >> "$dir/$1.log" 2>&1 < /dev/null &
    groups+=("$!")
    # Killed on purpose by the test and at the end: no job notices from this shell.
    disown
}

monitor_port=$(free_port 56100)
p1=$(free_port $((monitor_port + 1)))
p2=$(free_port $((p1 + 1)))
step "pg_auto_failover monitor on 127.0.0.1:$monitor_port"
as_postgres bash packaging/ha/pg-node.sh monitor "$dir/monitor" "$monitor_port" 127.0.0.1 \
    > "$dir/monitor-create.log" 2>&1 || {
    cat "$dir/monitor-create.log" >&2
    die "the monitor was not created"
}
run_node monitor
monitor="postgres://autoctl_node@127.0.0.1:$monitor_port/pg_auto_failover?sslmode=disable"
for _ in $(seq 100); do
    psql "$monitor" -Atqc 'SELECT 1' > /dev/null 2>&1 && break
    sleep 0.2
done

for n in 1 2; do
    port=$p1
    [ "$n" = 2 ] && port=$p2
    step "PostgreSQL node$n on 127.0.0.1:$port"
    as_postgres bash packaging/ha/pg-node.sh postgres "$dir/node$n" "$port" 127.0.0.1 "$monitor" "node$n" \
        > "$dir/node$n-create.log" 2>&1 || {
        cat "$dir/node$n-create.log" >&2
        die "node$n was not created"
    }
    run_node "node$n"
done

url="host=127.0.0.1,127.0.0.1 port=$p1,$p2 user=postgres dbname=hotspot target_session_attrs=read-write connect_timeout=2"
# Ready when the primary takes writes and names the standby as synchronous.
ready=""
for _ in $(seq 150); do
    sync=$(psql "$url" -Atqc "SELECT count(*) FROM pg_stat_replication WHERE sync_state IN ('sync', 'quorum')" 2> /dev/null || true)
    [ "$sync" = 1 ] && ready=1 && break
    sleep 0.2
done
[ -n "$ready" ] || {
    tail -n 20 "$dir"/*.log >&2
    die "no primary with a synchronous standby"
}
echo "primary with a synchronous standby after $(($(date +%s) - started)) s"

step "HA tests"
HOTSPOT_HA_DATABASE_URL="$url" HOTSPOT_HA_NODES="$dir/node1,$dir/node2" HOTSPOT_HA_LOGS="$dir" \
    timeout -k 10 "${HA_TIMEOUT:-300}" \
    cargo test -q --locked -p hotspot-system-tests --test ha -- --nocapture --test-threads=1 || {
    tail -n 30 "$dir"/*.log >&2
    die "HA tests failed"
}
if [ -n "${HA_FAILURE_MODES-}" ]; then
    step "HA failure modes (opt-in)"
    HOTSPOT_HA_DATABASE_URL="$url" HOTSPOT_HA_NODES="$dir/node1,$dir/node2" HOTSPOT_HA_LOGS="$dir" \
        HOTSPOT_HA_DIR="$dir" timeout -k 10 "${HA_TIMEOUT:-300}" \
        cargo test -q --locked -p hotspot-system-tests --test ha -- --nocapture --test-threads=1 \
        --ignored failure_modes || {
        tail -n 30 "$dir"/*.log >&2
        die "HA failure modes failed"
    }
fi
echo "HA harness passed in $(($(date +%s) - started)) s"
