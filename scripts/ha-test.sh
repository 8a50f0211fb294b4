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
# stop_nodes: every keeper started so far, with its PostgreSQL (each in a process group).
stop_nodes() {
    local g
    for g in "${groups[@]}"; do kill -TERM -- "-$g" 2> /dev/null || true; done
    [ "${#groups[@]}" -eq 0 ] || sleep 1
    for g in "${groups[@]}"; do kill -KILL -- "-$g" 2> /dev/null || true; done
    groups=()
}
cleanup() {
    local g
    # Keepers the failure-mode test started again.
    if [ -f "$dir/test-groups" ]; then
        while read -r g; do groups+=("$g"); done < "$dir/test-groups"
    fi
    stop_nodes
    if [ -n "${HA_KEEP-}" ]; then
        echo "kept $dir"
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT

node_env=(env "XDG_CONFIG_HOME=$dir/config" "XDG_DATA_HOME=$dir/share" "XDG_RUNTIME_DIR=$dir/run")

# run_node NAME: the node's keeper in a process group of its own (the test kills a node whole).
run_node() {
    setsid runuser -u postgres -- "${node_env[@]}" bash packaging/ha/pg-node.sh run "$dir/$1" \
        >> "$dir/$1.log" 2>&1 < /dev/null &
    groups+=("$!")
    # Killed on purpose by the test and at the end: no job notices from this shell.
    disown
}

create_timeout=${HA_CREATE_TIMEOUT:-120}
# create NAME ARGS...: pg-node.sh ARGS as the postgres user, bounded (a node's creation waits
# without end for a monitor that does not answer), its output in NAME-create.log. It runs in a
# process group of its own, killed whole when it overruns (with the PostgreSQL it started).
create() {
    local name=$1 pid rc=0 ticks=0
    shift
    setsid runuser -u postgres -- "${node_env[@]}" bash packaging/ha/pg-node.sh "$@" \
        > "$dir/$name-create.log" 2>&1 < /dev/null &
    pid=$!
    groups+=("$pid")
    while kill -0 "$pid" 2> /dev/null && [ "$ticks" -lt $((create_timeout * 5)) ]; do
        sleep 0.2
        ticks=$((ticks + 1))
    done
    if kill -0 "$pid" 2> /dev/null; then
        kill -KILL -- "-$pid" 2> /dev/null || true
        wait "$pid" 2> /dev/null || true
        echo "$name was not created within $create_timeout s" >&2
        return 1
    fi
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] && return 0
    echo "$name was not created (exit $rc)" >&2
    return 1
}

# bring_up: the monitor, then a primary and its synchronous standby, each step bounded; sets
# monitor and url. Fails (1) showing the logs, without exiting.
bring_up() {
    local n port sync ready=""
    monitor_port=$(free_port 56100)
    p1=$(free_port $((monitor_port + 1)))
    p2=$(free_port $((p1 + 1)))
    step "pg_auto_failover monitor on 127.0.0.1:$monitor_port"
    create monitor monitor "$dir/monitor" "$monitor_port" 127.0.0.1 || return 1
    run_node monitor
    monitor="postgres://autoctl_node@127.0.0.1:$monitor_port/pg_auto_failover?sslmode=disable"
    for _ in $(seq 300); do
        psql "$monitor" -Atqc 'SELECT 1' > /dev/null 2>&1 && ready=1 && break
        sleep 0.2
    done
    [ -n "$ready" ] || {
        echo "the monitor did not answer within 60 s" >&2
        return 1
    }
    echo "monitor answering after $(($(date +%s) - started)) s"
    for n in 1 2; do
        port=$p1
        [ "$n" = 2 ] && port=$p2
        step "PostgreSQL node$n on 127.0.0.1:$port"
        create "node$n" postgres "$dir/node$n" "$port" 127.0.0.1 "$monitor" "node$n" || return 1
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
        echo "no primary with a synchronous standby within 30 s" >&2
        return 1
    }
    echo "primary with a synchronous standby after $(($(date +%s) - started)) s"
}

# A cluster that did not come up is shown, stopped and made once more from nothing: the tests
# are about the cloud under failover, not about pg_auto_failover's own start.
if ! bring_up; then
    tail -n 40 "$dir"/*.log >&2
    stop_nodes
    find "$dir" -mindepth 1 -delete
    echo "the cluster did not come up; once more from nothing" >&2
    bring_up || {
        tail -n 40 "$dir"/*.log >&2
        die "the cluster did not come up twice"
    }
fi

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
