# shellcheck shell=bash
# Shared by scripts/run.sh and scripts/test.sh: installing packages and finding or starting
# PostgreSQL. Sourced, not run.

# step TEXT: a heading, with the time this script has run so far (a slow or stuck step shows in
# the log of a run that was cut short).
step() { printf '\n==== %s [%s s]\n' "$*" "$SECONDS"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2> /dev/null)" = "install ok installed" ]
}

# ensure_packages PKG... : installs the Debian packages that are missing (needs root).
ensure_packages() {
    local missing=() p
    for p in "$@"; do is_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]} (run as root, or install them)"
    for p in "${missing[@]}"; do
        case $p in
            *:*) dpkg --print-foreign-architectures | grep -qx "${p#*:}" || dpkg --add-architecture "${p#*:}" ;;
        esac
    done
    step "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # A daemon a package brings (freeradius) must not start and hold its ports: tests start
    # their own. policy-rc.d (exit 101) tells the maintainer scripts so, where none is in place.
    local policy=/usr/sbin/policy-rc.d held=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && held=1
    fi
    local rc=0
    apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
    [ -z "$held" ] || rm -f "$policy"
    return "$rc"
}

# ensure_rust: a cargo on PATH, from Debian's packages when there is none.
ensure_rust() {
    ensure_packages ca-certificates gcc libc6-dev
    if ! command -v cargo > /dev/null 2>&1; then
        ensure_packages cargo-web rustc-web rustfmt-web rust-web-clippy
    fi
    cargo --version
}

# cross_cargo aarch64|armv7 COMMAND ARGS...: `cargo COMMAND --target <triple> ARGS...` for a
# router CPU with Debian's rustc (it carries the arm64 and armhf standard libraries), static
# (`+crt-static`: no libc needed where it runs), in target/<cpu> (a different rustc from the
# host's), and plain qemu as the runner (static binaries need no sysroot, so no `-L`).
cross_cargo() {
    local cpu=$1 command=$2 triple gcc qemu var
    shift 2
    case $cpu in
        aarch64) triple=aarch64-unknown-linux-gnu gcc=aarch64-linux-gnu-gcc qemu="qemu-aarch64" ;;
        armv7) triple=armv7-unknown-linux-gnueabihf gcc=arm-linux-gnueabihf-gcc qemu="qemu-arm" ;;
        *) die "cross_cargo: no router CPU '$cpu' (aarch64 or armv7)" ;;
    esac
    var=CARGO_TARGET_$(tr 'a-z-' 'A-Z_' <<< "$triple")
    env RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_DIR="target/$cpu" \
        "${var}_LINKER=$gcc" "${var}_RUNNER=$qemu" \
        "${var}_RUSTFLAGS=-C target-feature=+crt-static" \
        cargo "$command" --target "$triple" "$@"
}

# cross_bin aarch64|armv7: where cross_cargo's `build --profile edge` puts hotspotd.
cross_bin() {
    case $1 in
        aarch64) echo target/aarch64/aarch64-unknown-linux-gnu/edge/hotspotd ;;
        armv7) echo target/armv7/armv7-unknown-linux-gnueabihf/edge/hotspotd ;;
        *) die "cross_bin: no router CPU '$1' (aarch64 or armv7)" ;;
    esac
}

pg_bindir() {
    # Version directories (13, 15 …): plain names, so ls is safe here.
    # shellcheck disable=SC2012
    ls -d /usr/lib/postgresql/*/bin 2> /dev/null | sort -V | tail -n 1
}

# pg_answers URL: true when PostgreSQL accepts a query at URL.
pg_answers() {
    command -v psql > /dev/null 2>&1 && psql "$1" -Atqc 'SELECT 1' > /dev/null 2>&1
}

# free_port START: the first port from START up that nothing listens on.
free_port() {
    local port=$1
    while (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; do port=$((port + 1)); done
    echo "$port"
}

# as_pg_owner CMD...: runs CMD as the postgres user when root (initdb refuses root), else as is.
as_pg_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_cluster DIR PORT [SERVER-OPTIONS]: initialises (once) and starts a private cluster
# listening on 127.0.0.1:PORT with trust auth; sets DATABASE_URL to its postgres database.
start_cluster() {
    local dir=$1 port=$2 extra=${3-} bin
    bin=$(pg_bindir)
    [ -n "$bin" ] || die "no PostgreSQL binaries under /usr/lib/postgresql"
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_pg_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync > /dev/null
    fi
    if as_pg_owner "$bin/pg_ctl" -D "$dir/data" status > /dev/null 2>&1; then
        # Left running by an earlier run: use it where it listens (postmaster.pid, line 4).
        port=$(sed -n 4p "$dir/data/postmaster.pid")
        export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
        return 0
    fi
    as_pg_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200 $extra" start > /dev/null ||
        {
            cat "$dir/server.log" >&2
            die "PostgreSQL did not start"
        }
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
}

# stop_cluster DIR: stops a cluster started by start_cluster.
stop_cluster() {
    local bin
    bin=$(pg_bindir)
    as_pg_owner "$bin/pg_ctl" -D "$1/data" -m fast -w stop > /dev/null 2>&1 || true
}
