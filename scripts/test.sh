#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every test on x86_64, the shared and edge
# crates' tests on aarch64 and armv7 under QEMU, the size-tuned static daemon for both with its
# size and smoke tests, and the OpenWrt packages.
# Installs the Debian packages it needs and starts a throwaway PostgreSQL when none is given.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

started=$(date +%s)
step "packages"
ensure_rust
ensure_packages nftables iproute2 iperf3 postgresql postgresql-client qemu-user qemu-user-static \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross \
    rustc-web libstd-rust-web-dev:arm64 libstd-rust-web-dev:armhf \
    chromium chromium-driver freeradius-utils freeradius freeradius-postgresql \
    busybox-static shellcheck shfmt openssl python3 dnsmasq-base systemd buildah podman runc curl \
    postgresql-15-auto-failover pg-auto-failover-cli haproxy

step "PostgreSQL"
pg_dir=""
armv7_build=""
cleanup() {
    [ -n "$pg_dir" ] && {
        stop_cluster "$pg_dir"
        rm -rf "$pg_dir"
    }
    # A failure before the armv7 lane waited for its background build: stop the build.
    [ -n "$armv7_build" ] && {
        pkill -TERM -P "$armv7_build" || true
        kill "$armv7_build" || true
    } 2> /dev/null
    return 0
}
trap cleanup EXIT
if [ -n "${DATABASE_URL-}" ]; then
    echo "using DATABASE_URL"
elif pg_answers "postgres://postgres@127.0.0.1:5432/postgres"; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
    echo "using the server on 127.0.0.1:5432"
else
    pg_dir=$(mktemp -d /tmp/hotspot-test-pg.XXXXXX)
    # Throwaway data: durability off makes the per-test databases cheap.
    start_cluster "$pg_dir" "$(free_port 55432)" "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    echo "started a throwaway cluster in $pg_dir"
fi

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

step "x86_64 tests"
cargo build --workspace --bins --locked
cargo test --workspace --locked

step "systemd units"
bash scripts/check-systemd-units.sh target/debug

step "container image"
# The cloud's image from the binary above, built without pulling anything, run with podman.
bash packaging/container/test-image.sh target/debug/hotspot-cloud

# pg_auto_failover primary + synchronous standby, two cloud replicas behind haproxy, a replica and
# then the primary killed under load (docs/ha.md); about 75 s.
step "high availability"
bash scripts/ha-test.sh

# The router CPUs, one lane each with Debian's rustc (it carries the arm64 and armhf standard
# libraries; scripts/lib.sh, cross_cargo), static, in target/<cpu>: the shared and edge crates'
# tests under plain qemu (static: no sysroot, no -L), then the size-tuned hotspotd, smoke-tested
# (scripts/smoke-router.sh) and measured. CARGO_INCREMENTAL=0: each lane builds once, and
# incremental state would only cost time and disk.
#
# The size-tuned armv7 build starts now in the background: most of each size-tuned build is
# one single-threaded LTO step, and the tests under qemu leave a core idle much of the time, so
# on two cores it runs largely in time the aarch64 lane leaves unused. Its output is shown when
# the armv7 lane needs the binary.
budget=$((6 * 1024 * 1024))
sizes=()
armv7_log=$(mktemp /tmp/hotspot-armv7-build.XXXXXX)
cross_cargo armv7 build --locked --profile edge -p hotspot-edge --bin hotspotd > "$armv7_log" 2>&1 &
armv7_build=$!
for cpu in aarch64 armv7; do
    qemu="qemu-aarch64"
    [ "$cpu" = armv7 ] && qemu="qemu-arm"
    step "$cpu tests under $qemu"
    CARGO_INCREMENTAL=0 cross_cargo "$cpu" test --locked -p hotspot-shared -p hotspot-listener -p hotspot-edge 2>&1 |
        sed -u "s/^/[$cpu] /"

    step "$cpu size-tuned static hotspotd"
    if [ "$cpu" = armv7 ]; then
        built=0
        wait "$armv7_build" || built=$?
        armv7_build=""
        sed "s/^/[armv7 edge] /" "$armv7_log"
        rm -f "$armv7_log"
        [ "$built" -eq 0 ] || die "the size-tuned armv7 build failed"
    else
        cross_cargo "$cpu" build --locked --profile edge -p hotspot-edge --bin hotspotd
    fi
    bin=$(cross_bin "$cpu")
    if LC_ALL=C readelf -l "$bin" | grep -q 'INTERP'; then
        die "$bin is dynamically linked; it must be static"
    fi
    bash scripts/smoke-router.sh "$cpu" "$bin"
    sizes+=("$cpu $(stat -c %s "$bin")")
done

step "size report"
for entry in "${sizes[@]}"; do
    read -r cpu bytes <<< "$entry"
    printf 'hotspotd %s static, profile edge, stripped: %d bytes (%.2f MiB) of a %.0f MiB budget\n' \
        "$cpu" "$bytes" "$(awk "BEGIN{print $bytes/1048576}")" 6
    [ "$bytes" -le "$budget" ] || die "hotspotd for $cpu is over its 6 MiB budget"
done

step "OpenWrt package"
# The binaries above, packaged (no rebuild), unpacked, installed into a fake OpenWrt root.
HOTSPOTD_AARCH64_BIN=$(cross_bin aarch64) HOTSPOTD_ARMV7_BIN=$(cross_bin armv7) \
    bash packaging/openwrt/test/test-package.sh

step "all passed in $(($(date +%s) - started)) s"
