#!/usr/bin/env bash
# Runs the product on this machine: hotspot-cloud on PostgreSQL and hotspotd on its own SQLite
# database with the portal listening. Ctrl-C stops everything it started.
#
#   DATABASE_URL    use this PostgreSQL (the schema owner); otherwise a private cluster is started
#                   in the state directory (from the system's PostgreSQL, installed when missing)
#   HOTSPOT_STATE   state directory (default /var/lib/hotspot-dev as root, else ~/.local/state/hotspot)
#   CLOUD_LISTEN    default 127.0.0.1:8080        PORTAL_LISTEN   default 127.0.0.1:2050
#   SIM_LISTEN      the Daraja simulator M-Pesa payments go to, default 127.0.0.1:8099
#
# The demo tenant's M-Pesa settings point at the Daraja simulator (never at Safaricom), and the
# router is claimed to the demo hotspot, so the portal sells the demo packages: a phone number
# ending 1032, 1037, 0001, 2001 or 1001 gets that Daraja failure, any other pays.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

if [ "$(id -u)" -eq 0 ]; then default_state=/var/lib/hotspot-dev; else default_state=$HOME/.local/state/hotspot; fi
state=${HOTSPOT_STATE:-$default_state}
cloud_listen=${CLOUD_LISTEN:-127.0.0.1:8080}
portal_listen=${PORTAL_LISTEN:-127.0.0.1:2050}
sim_listen=${SIM_LISTEN:-127.0.0.1:8099}
mkdir -p "$state"

step "packages"
ensure_rust
ensure_packages curl
pids=()
pg_dir=""
cleanup() {
    # A second Ctrl-C must not cut the cleanup short and leave PostgreSQL running.
    trap - EXIT
    trap '' INT TERM
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    [ -n "$pg_dir" ] && stop_cluster "$pg_dir"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${DATABASE_URL-}" ]; then
    ensure_packages postgresql postgresql-client
    step "PostgreSQL (private cluster in $state/pg)"
    pg_dir=$state/pg
    start_cluster "$pg_dir" "$(free_port 55433)"
    psql "$DATABASE_URL" -Atqc "SELECT 1 FROM pg_database WHERE datname = 'hotspot'" | grep -q 1 ||
        psql "$DATABASE_URL" -qc "CREATE DATABASE hotspot"
    export DATABASE_URL=${DATABASE_URL%/postgres}/hotspot
fi

step "build"
cargo build --release --locked -p hotspot-edge -p hotspot-cloud -p daraja-sim

# The key the cloud seals tenants' M-Pesa credentials with: made once, kept with the state.
if [ -z "${HOTSPOT_SECRETS_KEY-}" ]; then
    [ -f "$state/secrets.key" ] || (
        umask 077
        head -c 32 /dev/urandom | base64 > "$state/secrets.key"
    )
    HOTSPOT_SECRETS_KEY=$(cat "$state/secrets.key")
    export HOTSPOT_SECRETS_KEY
fi

if [ ! -f "$state/edge.toml" ]; then
    # This machine's own browser is the guest: 127.0.0.1 is "leased" to a made-up MAC.
    echo "0 02:00:00:00:00:99 127.0.0.1 this-machine *" > "$state/dhcp.leases"
    cat > "$state/edge.toml" << TOML
# Written by scripts/run.sh for a laptop; see \`hotspotd config example\` for every setting.
[lan]
address = "${portal_listen%:*}"
[portal]
listen = "$portal_listen"
[store]
path = "$state/edge.db"
[clients]
# No dnsmasq on a laptop: guests are looked up in a lease file that names this machine.
neighbour_source = "leases"
lease_file = "$state/dhcp.leases"
[firewall]
# Trying the portal: nothing is enforced on this machine's own firewall.
backend = "off"
[cloud]
url = "http://$cloud_listen/"
credential = "$state/device.json"
[sync]
interval_seconds = 5
TOML
fi

step "demo data"
# A demo tenant (hotspot, packages, vouchers, a client with devices, an operator login, M-Pesa
# settings for the simulator) and, for the console's dashboard, four more sites with 30 days of
# guests, M-Pesa purchases and voucher sales. Adds nothing when it is already there; it only
# marks the demo's simulated routers as heard from now, so their sites show online.
target/release/hotspot-cloud seed --demo --mpesa-sandbox

step "start"
target/release/daraja-sim --listen "$sim_listen" &
pids+=($!)
# Plain HTTP here, so the console's cookies are sent without the Secure flag (docs/console.md).
HOTSPOT_PUBLIC_URL="http://$cloud_listen" HOTSPOT_DARAJA_SANDBOX_URL="http://$sim_listen" \
    HOTSPOT_CONSOLE_INSECURE_COOKIES=1 \
    target/release/hotspot-cloud serve --listen "$cloud_listen" &
pids+=($!)
for _ in $(seq 1 100); do
    curl -fs "http://$cloud_listen/health/ready" > /dev/null 2>&1 && break
    sleep 0.2
done
if [ ! -f "$state/device.json" ]; then
    hotspot=$(psql "$DATABASE_URL" -Atc "SELECT id FROM hotspots ORDER BY created_at LIMIT 1")
    code=$(target/release/hotspot-cloud claim-code --hotspot "$hotspot")
    target/release/hotspotd --config "$state/edge.toml" claim "$code"
fi
target/release/hotspotd --config "$state/edge.toml" &
pids+=($!)
cat << MSG

  cloud API     http://$cloud_listen/health/ready
  console       http://$cloud_listen/console/   (sign in as the demo operator below)
  guest portal  http://$portal_listen/   (vouchers DEM2VW3HKA … or M-Pesa through the simulator)
  edge config   $state/edge.toml
  demo operator operator@demo.hotspot.test / ${HOTSPOT_DEMO_PASSWORD:-hotspot-demo}

Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
