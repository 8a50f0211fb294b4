#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, every test on x86_64, the shared and edge
# crates' tests on aarch64 under QEMU, and the size-tuned static aarch64 daemon with its size.
# Installs the Debian packages it needs and starts a throwaway PostgreSQL when none is given.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

started=$(date +%s)
step "packages"
ensure_rust
ensure_packages nftables iproute2 iperf3 postgresql postgresql-client qemu-user \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross rustc-web libstd-rust-web-dev:arm64 \
    chromium chromium-driver freeradius-utils busybox-static shellcheck shfmt

step "PostgreSQL"
pg_dir=""
cleanup() {
    [ -n "$pg_dir" ] && {
        stop_cluster "$pg_dir"
        rm -rf "$pg_dir"
    }
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

step "aarch64 tests under qemu-aarch64"
# Debian's rustc (it carries the arm64 std) for this lane only, in a target dir of its own.
# Static, so the test binaries run under plain qemu-aarch64 with no sysroot.
aarch64_env=(
    RUSTC=/usr/bin/rustc
    RUSTDOC=/usr/bin/rustdoc
    CARGO_TARGET_DIR=target/aarch64
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
)
env "${aarch64_env[@]}" cargo test --locked --target aarch64-unknown-linux-gnu \
    -p hotspot-shared -p hotspot-edge 2>&1 | sed -u 's/^/[aarch64] /'

step "aarch64 size-tuned static hotspotd"
env "${aarch64_env[@]}" cargo build --locked --target aarch64-unknown-linux-gnu \
    --profile edge -p hotspot-edge --bin hotspotd
bin=target/aarch64/aarch64-unknown-linux-gnu/edge/hotspotd
if aarch64-linux-gnu-readelf -l "$bin" | grep -q 'INTERP'; then
    die "$bin is dynamically linked; it must be static"
fi
bytes=$(stat -c %s "$bin")
budget=$((6 * 1024 * 1024))
# Smoke test: the static binary on plain qemu-aarch64, no sysroot, serving its portal.
smoke=$(mktemp -d /tmp/hotspot-smoke.XXXXXX)
port=$(free_port 42050)
printf '[portal]\nlisten = "127.0.0.1:%s"\n[store]\npath = "%s/edge.db"\n[firewall]\nbackend = "off"\n' \
    "$port" "$smoke" > "$smoke/edge.toml"
qemu-aarch64 "$bin" --config "$smoke/edge.toml" 2> "$smoke/log" &
daemon=$!
status=""
for _ in $(seq 1 150); do
    # In a subshell: a refused connection must not end this script (a failed `exec` would).
    status=$( (exec 3<> "/dev/tcp/127.0.0.1/$port" &&
        printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$port" >&3 &&
        head -n 1 <&3) 2> /dev/null | tr -d '\r') || true
    [ -n "$status" ] && break
    sleep 0.2
done
kill "$daemon" 2> /dev/null || true
wait "$daemon" 2> /dev/null || true
case "$status" in
    *" 200 "*) echo "static aarch64 hotspotd under qemu-aarch64: $status" ;;
    *)
        cat "$smoke/log" >&2
        die "static aarch64 hotspotd did not serve its portal under qemu-aarch64 (got '$status')"
        ;;
esac
rm -rf "$smoke"

step "size report"
printf 'hotspotd aarch64 static, profile edge, stripped: %d bytes (%.2f MiB) of a %.0f MiB budget\n' \
    "$bytes" "$(awk "BEGIN{print $bytes/1048576}")" 6
[ "$bytes" -le "$budget" ] || die "hotspotd is over its 6 MiB budget"

step "OpenWrt package"
# The binary above, packaged (no rebuild), unpacked, installed into a fake OpenWrt root.
HOTSPOTD_BIN="$bin" bash packaging/openwrt/test/test-package.sh

step "all passed in $(($(date +%s) - started)) s"
