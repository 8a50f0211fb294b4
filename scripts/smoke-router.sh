#!/usr/bin/env bash
# Smoke tests of a static router build of hotspotd, run by scripts/test.sh for each router CPU:
#  - the portal: the binary under plain qemu-<cpu> (no sysroot) serves /healthz;
#  - a router with no glibc (needs root, else skipped): the binary and a static qemu are alone in
#    a chroot (no C library, no NSS modules, no nsswitch.conf: what an OpenWrt router offers a
#    static glibc program) with their own /etc/hosts and /etc/resolv.conf, in a network namespace
#    of their own. `hotspotd claim` must reach a test cloud (HTTPS on 127.0.0.1, a certificate
#    from a test CA for cloud.hotspot.test) by its host name, once from the hosts file and once
#    from dnsmasq on 127.0.0.1:53, verify the certificate against `[cloud] ca_file`, send its
#    request and store the credential the cloud answered. With the name in neither, or the
#    certificate from another CA, it must fail without sending anything.
#
#   bash scripts/smoke-router.sh aarch64|armv7 path/to/hotspotd
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

cpu=${1-} bin=${2-}
case $cpu in
    aarch64) qemu="qemu-aarch64" ;;
    armv7) qemu="qemu-arm" ;;
    *) die "usage: $0 aarch64|armv7 BIN" ;;
esac
[ -f "$bin" ] || die "no binary at $bin"
name=cloud.hotspot.test

# ---- Inside the network namespace (the script runs itself there, see below) -----------------
if [ "${3-}" = --in-netns ]; then
    tmp=$4 root=$4/root
    ip link set lo up
    # The test cloud on 127.0.0.1:443, as the daemon will find it by name.
    python3 scripts/test-cloud.py "$tmp/cloud.pem" "$tmp/cloud.key" 127.0.0.1 443 "$tmp/requests" \
        > "$tmp/cloud.out" 2>&1 &
    cloud=$!
    dns=""
    # The namespace goes when its last process does: leave none behind, pass or fail.
    trap 'kill $cloud $dns 2> /dev/null || true' EXIT
    for _ in $(seq 1 50); do
        grep -qx ready "$tmp/cloud.out" && break
        sleep 0.1
    done
    grep -qx ready "$tmp/cloud.out" || {
        cat "$tmp/cloud.out" >&2
        die "the test cloud did not start"
    }
    # claim WHAT: `hotspotd claim` in the chroot; true when it stored the test cloud's credential.
    claim() {
        rm -f "$root/etc/hotspot/device.json"
        # RUST_BACKTRACE from the caller would bury the error under a backtrace.
        env -u RUST_BACKTRACE chroot "$root" /qemu /hotspotd --config /etc/hotspot/edge.toml claim SMOK-ETES-T000 \
            > "$tmp/claim.out" 2>&1 || return 1
        grep -q '"token": *"smoke-test-token"' "$root/etc/hotspot/device.json"
    }
    requests() { wc -l < "$tmp/requests" 2> /dev/null || echo 0; }

    # 1. The name in the hosts file; no DNS server answers (nothing listens on 127.0.0.1:53).
    printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$name" > "$root/etc/hosts"
    claim || {
        cat "$tmp/claim.out" >&2
        die "static $cpu hotspotd did not claim through $name from /etc/hosts"
    }
    [ "$(requests)" = 1 ] || die "the test cloud saw $(requests) requests, not 1"
    grep -q '"path": "/sync/v1/claim", "host": "'"$name"'", "body": "{\\"code\\":\\"SMOK-ETES-T000\\"' \
        "$tmp/requests" || {
        cat "$tmp/requests" >&2
        die "the test cloud did not see the claim"
    }
    echo "static $cpu hotspotd, no glibc: $name from /etc/hosts, TLS verified, claim stored"

    # 2. Only dnsmasq knows the name (as on OpenWrt, where /etc/resolv.conf points at it).
    printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
    dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
        --listen-address=127.0.0.1 --port=53 --user=root --group=root \
        --address="/$name/127.0.0.1" --log-queries --log-facility="$tmp/dnsmasq.log" \
        --pid-file="$tmp/dnsmasq.pid" &
    dns=$!
    for _ in $(seq 1 50); do
        [ -s "$tmp/dnsmasq.pid" ] && break
        sleep 0.1
    done
    claim || {
        cat "$tmp/claim.out" "$tmp/dnsmasq.log" >&2
        die "static $cpu hotspotd did not claim through $name from dnsmasq"
    }
    [ "$(requests)" = 2 ] || die "the test cloud saw $(requests) requests, not 2"
    grep -q "query\[A\] $name from 127.0.0.1" "$tmp/dnsmasq.log" || {
        cat "$tmp/dnsmasq.log" >&2
        die "dnsmasq was not asked for $name"
    }
    echo "static $cpu hotspotd, no glibc: $name from dnsmasq, TLS verified, claim stored"
    kill "$dns"
    wait "$dns" 2> /dev/null || true
    dns=""

    # 3. The name nowhere: the claim fails and the cloud sees nothing.
    if claim; then die "the claim succeeded with $name in neither the hosts file nor DNS"; fi
    [ "$(requests)" = 2 ] || die "the test cloud saw a request it should not have"
    grep -q "failed to lookup address information" "$tmp/claim.out" || {
        cat "$tmp/claim.out" >&2
        die "the claim with $name unknown did not fail for want of its address"
    }
    echo "static $cpu hotspotd, no glibc: $name in neither: the claim fails (no address for it)"

    # 4. The name known, the certificate from another CA: the handshake fails, nothing is sent.
    printf '127.0.0.1 localhost\n127.0.0.1 %s\n' "$name" > "$root/etc/hosts"
    cp "$tmp/other-ca.pem" "$root/etc/hotspot/cloud-ca.pem"
    if claim; then die "the claim succeeded with a certificate from a CA it was not given"; fi
    [ "$(requests)" = 2 ] || die "the test cloud saw a request over an unverified connection"
    grep -q "invalid peer certificate: UnknownIssuer" "$tmp/claim.out" || {
        cat "$tmp/claim.out" >&2
        die "the claim against another CA did not fail on the certificate"
    }
    echo "static $cpu hotspotd, no glibc: a certificate from another CA: refused"
    exit 0
fi

# ---- The portal, under plain qemu (no sysroot) ----------------------------------------------
smoke=$(mktemp -d /tmp/hotspot-smoke.XXXXXX)
daemon=""
cleanup() {
    [ -z "$daemon" ] || kill "$daemon" 2> /dev/null || true
    rm -rf "$smoke"
}
trap cleanup EXIT
port=$(free_port 42050)
printf '[portal]\nlisten = "127.0.0.1:%s"\n[store]\npath = "%s/edge.db"\n[firewall]\nbackend = "off"\n' \
    "$port" "$smoke" > "$smoke/edge.toml"
"$qemu" "$bin" --config "$smoke/edge.toml" 2> "$smoke/log" &
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
daemon=""
case "$status" in
    *" 200 "*) echo "static $cpu hotspotd under $qemu: $status" ;;
    *)
        cat "$smoke/log" >&2
        die "static $cpu hotspotd did not serve its portal under $qemu (got '$status')"
        ;;
esac

# ---- The cloud by name, on a system with no glibc -------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "the no-glibc cloud test needs root (chroot, network namespace): skipped"
    exit 0
fi
for tool in "$qemu-static" openssl python3 dnsmasq unshare chroot; do
    command -v "$tool" > /dev/null ||
        die "$tool is needed (Debian packages qemu-user-static, openssl, python3, dnsmasq-base)"
done
# A test CA and the cloud's certificate for its name.
(
    cd "$smoke"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout ca.key -out ca.pem -subj /CN=hotspot-smoke-test-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout other-ca.key -out other-ca.pem -subj /CN=another-ca \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout cloud.key -out cloud.csr -subj "/CN=$name"
    printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        "$name" > cloud.ext
    openssl x509 -req -in cloud.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 \
        -extfile cloud.ext -out cloud.pem
) > "$smoke/openssl.log" 2>&1 || {
    cat "$smoke/openssl.log" >&2
    die "openssl could not make the test certificates"
}
# The router: a static qemu, the static daemon, its configuration and the name service files.
root=$smoke/root
mkdir -p "$root/dev" "$root/etc/hotspot" "$root/srv" "$root/tmp"
cp "$(command -v "$qemu-static")" "$root/qemu"
cp "$bin" "$root/hotspotd"
cp "$smoke/ca.pem" "$root/etc/hotspot/cloud-ca.pem"
printf 'nameserver 127.0.0.1\n' > "$root/etc/resolv.conf"
mknod -m 0666 "$root/dev/null" c 1 3
mknod -m 0444 "$root/dev/urandom" c 1 9
cat > "$root/etc/hotspot/edge.toml" << EOF
[store]
path = "/srv/edge.db"
[firewall]
backend = "off"
[cloud]
url = "https://$name/"
ca_file = "/etc/hotspot/cloud-ca.pem"
credential = "/etc/hotspot/device.json"
EOF
unshare --net -- bash "$0" "$cpu" "$bin" --in-netns "$smoke"
