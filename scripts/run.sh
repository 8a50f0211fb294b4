#!/usr/bin/env bash
# Runs the product on this machine: hotspot-cloud on PostgreSQL and hotspotd on its own SQLite
# database with the portal listening. Ctrl-C stops everything it started.
#
#   DATABASE_URL    use this PostgreSQL (the schema owner); otherwise a private cluster is started
#                   in the state directory (from the system's PostgreSQL, installed when missing)
#   HOTSPOT_STATE   state directory (default /var/lib/hotspot-dev as root, else ~/.local/state/hotspot)
#   CLOUD_LISTEN    default 127.0.0.1:8080        PORTAL_LISTEN   default 127.0.0.1:2050
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if [ "$(id -u)" -eq 0 ]; then default_state=/var/lib/hotspot-dev; else default_state=$HOME/.local/state/hotspot; fi
state=${HOTSPOT_STATE:-$default_state}
cloud_listen=${CLOUD_LISTEN:-127.0.0.1:8080}
portal_listen=${PORTAL_LISTEN:-127.0.0.1:2050}
mkdir -p "$state"

step "packages"
ensure_rust
pids=()
pg_dir=""
cleanup() {
    # A second Ctrl-C must not cut the cleanup short and leave PostgreSQL running.
    trap - EXIT
    trap '' INT TERM
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "$pg_dir" ] && stop_cluster "$pg_dir"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL:-}" ]; then
    ensure_packages postgresql postgresql-client
    step "PostgreSQL (private cluster in $state/pg)"
    pg_dir=$state/pg
    start_cluster "$pg_dir" "$(free_port 55433)"
    psql "$DATABASE_URL" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'hotspot'" | grep -q 1 \
        || psql "$DATABASE_URL" -qc "CREATE DATABASE hotspot"
    export DATABASE_URL=${DATABASE_URL%/postgres}/hotspot
fi

step "build"
cargo build --release --locked -p hotspot-edge -p hotspot-cloud

if [ ! -f "$state/edge.toml" ]; then
    cat > "$state/edge.toml" <<TOML
# Written by scripts/run.sh for a laptop; see \`hotspotd config example\` for every setting.
[lan]
address = "${portal_listen%:*}"
[portal]
listen = "$portal_listen"
[store]
path = "$state/edge.db"
[clients]
# No dnsmasq on a laptop: do not require a DHCP lease.
require_lease = false
[firewall]
# Trying the portal: nothing is enforced on this machine's own firewall.
backend = "off"
TOML
fi

step "demo data"
# A demo tenant (hotspot, packages, vouchers, a client with devices, an operator login); a no-op
# when it is already there.
target/release/hotspot-cloud seed --demo

step "start"
target/release/hotspot-cloud serve --listen "$cloud_listen" &
pids+=($!)
target/release/hotspotd --config "$state/edge.toml" &
pids+=($!)
cat <<MSG

  cloud API     http://$cloud_listen/health/ready
  guest portal  http://$portal_listen/
  edge config   $state/edge.toml
  demo operator operator@demo.hotspot.test / ${HOTSPOT_DEMO_PASSWORD:-hotspot-demo}

Ctrl-C stops both.
MSG
wait -n "${pids[@]}"
