#!/usr/bin/env bash
# Tests of the OpenWrt package, run by scripts/test.sh:
#  - builds the ipks twice (the second time with another umask and time zone) and compares them;
#  - unpacks each: layout, gzip headers, control fields, conffiles, file modes and owners, arch;
#  - installs one into a fake OpenWrt root (busybox as /bin/sh; shims of rc.common, functions.sh,
#    procd.sh, network.sh, uci, logger, nft, fw4 and dnsmasq from test/shim that record their calls), and runs the
#    maintainer scripts and /etc/init.d/hotspotd there: install, start, reload after UCI changes,
#    bad settings, the LAN down, disabled, uninstall, image build;
#  - checks every TOML file the init script generated with the real aarch64 hotspotd under
#    qemu-aarch64 (`config check`), and the first one with the armv7 hotspotd under qemu-arm;
#  - shellcheck and shfmt on the shell files.
#
# HOTSPOTD_AARCH64_BIN, HOTSPOTD_ARMV7_BIN: the static binaries (default: the ones scripts/test.sh
# builds).
set -euo pipefail
cd "$(dirname "$0")/../../.."
. scripts/lib.sh

bin=${HOTSPOTD_AARCH64_BIN:-$(cross_bin aarch64)}
armv7_bin=${HOTSPOTD_ARMV7_BIN:-$(cross_bin armv7)}
[ -f "$bin" ] || die "no aarch64 hotspotd at $bin (build it, or set HOTSPOTD_AARCH64_BIN)"
[ -f "$armv7_bin" ] || die "no armv7 hotspotd at $armv7_bin (build it, or set HOTSPOTD_ARMV7_BIN)"
for tool in busybox qemu-aarch64 qemu-arm shellcheck shfmt; do
    command -v "$tool" > /dev/null || die "$tool is needed (Debian packages busybox-static, qemu-user, shellcheck, shfmt)"
done

tmp=$(mktemp -d /tmp/hotspotd-pkg-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
checks=0
fail() { die "$*"; }
ok() { checks=$((checks + 1)); }
# expect_eq WHAT WANT GOT
expect_eq() {
    [ "$2" = "$3" ] || fail "$1: expected
$2
got
$3"
    ok
}
# expect_line FILE LINE: FILE holds exactly LINE as one of its lines.
expect_line() {
    grep -qxF -- "$2" "$1" || {
        cat "$1" >&2
        fail "$1 lacks the line: $2"
    }
    ok
}
expect_no_line() {
    if grep -qxF -- "$2" "$1"; then
        cat "$1" >&2
        fail "$1 has the line: $2"
    fi
    ok
}

step "shellcheck and shfmt"
# The router's scripts are busybox ash (dash's dialect plus `local`); they source router paths.
router_sh=(packaging/openwrt/files/hotspotd.init packaging/openwrt/files/hotspotd.uci-defaults)
while IFS= read -r f; do router_sh+=("$f"); done < <(find packaging/openwrt/test/shim -type f | sort)
shellcheck -s dash -e SC1091 "${router_sh[@]}"
shfmt -d -sr -s "${router_sh[@]}"
# The host scripts: bash, four-space indent.
host_sh=(scripts/package-openwrt.sh packaging/openwrt/test/test-package.sh scripts/smoke-router.sh
    scripts/test.sh scripts/lib.sh scripts/check-systemd-units.sh scripts/build-container.sh
    packaging/container/test-image.sh scripts/ha-test.sh packaging/ha/pg-node.sh)
shellcheck -x "${host_sh[@]}"
shfmt -d -sr -s -i 4 -ci "${host_sh[@]}"
echo "clean: ${#router_sh[@]} router scripts, ${#host_sh[@]} host scripts"

step "build twice, compare"
export HOTSPOTD_AARCH64_BIN=$bin HOTSPOTD_ARMV7_BIN=$armv7_bin
bash scripts/package-openwrt.sh
(umask 077 && TZ=Pacific/Kiritimati OUT_DIR="$tmp/again" bash scripts/package-openwrt.sh) > /dev/null
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)-r1
ipks=()
for arch in aarch64_cortex-a53 aarch64_generic \
    arm_cortex-a7_neon-vfpv4 arm_cortex-a9_vfpv3-d16 arm_cortex-a15_neon-vfpv4; do
    ipk=target/openwrt/hotspotd_${version}_${arch}.ipk
    [ -f "$ipk" ] || fail "no $ipk"
    cmp "$ipk" "$tmp/again/${ipk##*/}" || fail "$ipk differs between two builds"
    ok
    ipks+=("$ipk")
done
echo "byte-identical: ${ipks[*]}"

# gzip_plain FILE: the gzip header carries no file name and no time stamp (gzip -n).
gzip_plain() {
    local flags mtime
    flags=$(od -An -tu1 -j3 -N1 "$1" | tr -d ' ')
    mtime=$(od -An -tu4 -j4 -N4 "$1" | tr -d ' ')
    [ $((flags & 8)) -eq 0 ] || fail "$1: gzip header holds a file name"
    [ "$mtime" = 0 ] || fail "$1: gzip header holds a time stamp ($mtime)"
    ok
}

for ipk in "${ipks[@]}"; do
    arch=${ipk##*/hotspotd_"$version"_}
    arch=${arch%.ipk}
    step "unpack $ipk"
    u=$tmp/unpacked-$arch
    mkdir -p "$u/control" "$u/data"
    gzip_plain "$ipk"
    expect_eq "outer members" "./debian-binary
./data.tar.gz
./control.tar.gz" "$(tar -tzf "$ipk")"
    tar -xzf "$ipk" -C "$u"
    expect_eq "debian-binary" "2.0" "$(cat "$u/debian-binary")"
    gzip_plain "$u/control.tar.gz"
    gzip_plain "$u/data.tar.gz"
    # Every member of every tar: owner 0/0 and the one time stamp.
    for t in "$ipk" "$u/control.tar.gz" "$u/data.tar.gz"; do
        epoch=$(git log -1 --format=%ct)
        stamp=$(TZ=UTC date -d "@$epoch" '+%Y-%m-%d %H:%M')
        bad=$(TZ=UTC tar --numeric-owner --full-time -tvzf "$t" |
            awk -v s="$stamp" '$2 != "0/0" || substr($4 " " $5, 1, 16) != s')
        [ -z "$bad" ] || fail "$t: members not owned by 0/0 or not stamped $stamp:
$bad"
        ok
    done
    tar -xzf "$u/control.tar.gz" -C "$u/control"
    tar -xzf "$u/data.tar.gz" -C "$u/data"
    expect_eq "control members" "drwxr-xr-x ./
-rw-r--r-- ./conffiles
-rw-r--r-- ./control
-rwxr-xr-x ./postinst
-rwxr-xr-x ./postrm
-rwxr-xr-x ./prerm" "$(tar -tvzf "$u/control.tar.gz" | awk '{ print $1, $6 }')"
    expect_eq "data members" "drwxr-xr-x ./
drwxr-xr-x ./etc/
drwxr-xr-x ./etc/config/
-rw------- ./etc/config/hotspotd
drwx------ ./etc/hotspot/
lrwxrwxrwx ./etc/hotspot/edge.toml -> /var/etc/hotspotd.toml
drwxr-xr-x ./etc/init.d/
-rwxr-xr-x ./etc/init.d/hotspotd
drwxr-xr-x ./etc/uci-defaults/
-rwxr-xr-x ./etc/uci-defaults/90-hotspotd
drwxr-xr-x ./usr/
drwxr-xr-x ./usr/sbin/
-rwxr-xr-x ./usr/sbin/hotspotd" "$(tar -tvzf "$u/data.tar.gz" | awk '{ $2 = $3 = $4 = $5 = ""; print }' | tr -s ' ')"
    c=$u/control/control
    expect_line "$c" "Package: hotspotd"
    expect_line "$c" "Version: $version"
    expect_line "$c" "Architecture: $arch"
    expect_line "$c" "Depends: kmod-nft-core, kmod-nft-nat, nftables-json"
    grep -q '^Description: .' "$c" || fail "$c has no Description"
    size=$(find "$u/data" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
    expect_line "$c" "Installed-Size: $size"
    expect_eq "conffiles" "/etc/config/hotspotd" "$(cat "$u/control/conffiles")"
    case $arch in
        aarch64_*) cpu_bin=$bin machine='AArch64' ;;
        arm_*) cpu_bin=$armv7_bin machine='ARM$' ;;
    esac
    cmp "$u/data/usr/sbin/hotspotd" "$cpu_bin" || fail "the packaged binary is not $cpu_bin"
    ok
    cmp "$u/data/etc/init.d/hotspotd" packaging/openwrt/files/hotspotd.init || fail "init differs"
    ok
    LC_ALL=C readelf -h "$u/data/usr/sbin/hotspotd" | grep -q "Machine: *$machine" ||
        fail "$arch: the binary is not for $machine"
    ok
    if LC_ALL=C readelf -l "$u/data/usr/sbin/hotspotd" | grep -q INTERP; then fail "not static"; fi
    ok
    for s in postinst prerm postrm; do
        expect_eq "$s interpreter" "#!/bin/sh" "$(head -n 1 "$u/control/$s")"
    done
    shellcheck -s dash -e SC1091 "$u/control/postinst" "$u/control/prerm" "$u/control/postrm"
    shfmt -d -sr -s "$u/control/postinst" "$u/control/prerm" "$u/control/postrm"
    ok
    echo "$ipk: layout, control, conffiles, modes and arch as expected"
done

# ---- The feed Makefile, against the ipk ------------------------------------------------------
step "feed Makefile: version, install recipe and scripts as the ipk's"
mk=packaging/openwrt/Makefile
expect_eq "the Makefile's PKG_VERSION-rPKG_RELEASE" "$version" \
    "$(sed -n 's/^PKG_VERSION:=//p' "$mk")-r$(sed -n 's/^PKG_RELEASE:=//p' "$mk")"
# OpenWrt's rules.mk definitions, and a package.mk whose BuildPackage runs the install recipe
# into $(DEST) and writes the maintainer scripts to $(SCRIPTS) (no SDK here: docs/openwrt.md).
sdk=$tmp/sdk
mkdir -p "$sdk/include" "$tmp/feed-install/bin" "$tmp/feed-root" "$tmp/feed-scripts"
cat > "$sdk/rules.mk" << 'EOF'
INSTALL_DIR:=install -d -m0755
INSTALL_BIN:=install -m0755
INSTALL_CONF:=install -m0600
LN:=ln -sf
CP:=cp -fpR
EOF
cat > "$sdk/include/package.mk" << 'EOF'
define BuildPackage
feed-test:
	$$(call Package/$(1)/install,$$(DEST))
	$$(file > $$(SCRIPTS)/prerm,$$(Package/$(1)/prerm))
	$$(file > $$(SCRIPTS)/postrm,$$(Package/$(1)/postrm))
	$$(file > $$(SCRIPTS)/conffiles,$$(Package/$(1)/conffiles))
endef
EOF
cp "$bin" "$tmp/feed-install/bin/hotspotd"
make -s -C packaging/openwrt TOPDIR="$sdk" INCLUDE_DIR="$sdk/include" HOTSPOTD_BIN="$bin" \
    PKG_INSTALL_DIR="$tmp/feed-install" DEST="$tmp/feed-root" SCRIPTS="$tmp/feed-scripts" feed-test
tree_of() { (cd "$1" && find . -mindepth 1 -printf '%M %p %l\n' | sort); }
expect_eq "the feed Makefile's files against the ipk's" \
    "$(tree_of "$tmp/unpacked-aarch64_cortex-a53/data")" "$(tree_of "$tmp/feed-root")"
expect_eq "the feed Makefile's conffiles" "/etc/config/hotspotd" "$(cat "$tmp/feed-scripts/conffiles")"
shellcheck -s dash "$tmp/feed-scripts/prerm" "$tmp/feed-scripts/postrm"
ok
# shellcheck disable=SC2016 # the script's own text, not expanded here
grep -qxF '[ "${PKG_UPGRADE}" = "1" ] || /etc/init.d/hotspotd forget_dnsmasq' "$tmp/feed-scripts/prerm" ||
    fail "the feed Makefile's prerm does not forget dnsmasq's settings"
grep -qF 'nft delete table inet hotspot' "$tmp/feed-scripts/postrm" ||
    fail "the feed Makefile's postrm leaves the table"
ok

# ---- The fake OpenWrt root -------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    step "OpenWrt package: $checks checks passed; the fake-root tests need root (chroot, mknod): skipped"
    exit 0
fi
step "fake OpenWrt root: install"
u=$tmp/unpacked-aarch64_cortex-a53
root=$tmp/root
mkdir -p "$root"/{bin,dev,tmp,etc/rc.d,usr/lib/opkg/info,sbin}
ln -s tmp "$root/var"
cp -a "$u/data/." "$root/"
for s in control conffiles postinst prerm postrm; do
    cp -a "$u/control/$s" "$root/usr/lib/opkg/info/hotspotd.$s"
done
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $(busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
# The daemon is aarch64 and the fake root has no emulator: a recording stand-in takes its place
# there, and the real binary checks each generated file from outside.
cp -a packaging/openwrt/test/shim/. "$root/"
mknod -m 0666 "$root/dev/null" c 1 3
printf 'lan br-lan 192.168.8.1\nguest br-guest 10.20.0.1\n' > "$root/etc/shim-network"
cat > "$root/etc/shim-uci" << 'EOF'
firewall.@defaults[0].flow_offloading=1
dhcp.lan=dhcp
dhcp.lan.interface=lan
dhcp.lan.dhcp_option=3,192.168.8.1
dhcp.guest=dhcp
dhcp.guest.interface=guest
EOF
store=$root/etc/shim-uci
dhcp_before=$(grep '^dhcp\.' "$store" | sort)
log=$root/tmp/shim.log
toml=$root/var/etc/hotspotd.toml

# in_root CMD...: runs CMD in the fake root with a router's environment only.
in_root() {
    chroot "$root" /bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"
}
# real_check: the real daemon accepts the generated configuration.
real_check() {
    local out
    out=$(qemu-aarch64 "$bin" --config "$toml" config check 2>&1) ||
        {
            cat "$toml" >&2
            fail "hotspotd refused the generated configuration: $out"
        }
    ok
}
# procd_calls: the instance and trigger calls of the last start, without config_load noise.
procd_calls() { grep -E '^(procd_|rc )' "$log"; }

: > "$log"
in_root /bin/sh /usr/lib/opkg/info/hotspotd.postinst
expect_line "$log" "uci set firewall.@defaults[0].flow_offloading=0"
expect_line "$log" "uci commit firewall"
expect_line "$log" "fw4 -q reload"
[ ! -e "$root/etc/uci-defaults/90-hotspotd" ] || fail "uci-defaults script left after it ran"
ok
expect_eq "rc.d links" "K10hotspotd -> ../init.d/hotspotd
S95hotspotd -> ../init.d/hotspotd" "$(cd "$root/etc/rc.d" && for l in *; do echo "$l -> $(readlink "$l")"; done)"
expect_eq "procd calls at install" "rc hotspotd enable
rc hotspotd start
procd_open_service hotspotd
procd_open_instance
procd_set_param command /usr/sbin/hotspotd --config /var/etc/hotspotd.toml run
procd_set_param env RUST_LOG=info
procd_set_param respawn 3600 5 0
procd_set_param file /var/etc/hotspotd.toml
procd_set_param netdev br-lan
procd_set_param stdout 1
procd_set_param stderr 1
procd_close_instance
procd_open_trigger
procd_add_reload_trigger hotspotd
procd_add_reload_interface_trigger lan
procd_close_trigger
procd_close_service" "$(procd_calls)"
grep -qE '^hotspotd --config /var/etc/hotspotd\.toml\.[A-Za-z0-9]{6} config check$' "$log" ||
    fail "the generated file was not checked by hotspotd config check before use"
ok
# dnsmasq: DHCP option 114 on the LAN, beside the options already there; no walled-garden domains.
expect_line "$store" "dhcp.lan.dhcp_option=114,http://192.168.8.1:2050/api/captive"
expect_line "$store" "dhcp.lan.dhcp_option=3,192.168.8.1"
expect_no_line "$store" "dhcp.hotspotd_garden=ipset"
expect_line "$log" "uci commit dhcp"
expect_line "$log" "dnsmasq-init reload"
[ -d "$root/srv/hotspot" ] || fail "the database directory was not made"
ok
[ "$(stat -c %a "$root/etc/hotspot")" = 700 ] || fail "/etc/hotspot is not private"
ok
real_check
# The armv7 build reads the same file the same way.
qemu-arm "$armv7_bin" --config "$toml" config check > /dev/null || fail "armv7 hotspotd refused it"
ok
expect_line "$toml" 'interface = "br-lan"'
expect_line "$toml" 'address = "192.168.8.1"'
expect_line "$toml" 'listen = "0.0.0.0:2050"'
expect_line "$toml" 'path = "/srv/hotspot/edge.db"'
expect_line "$toml" 'lease_file = "/tmp/dhcp.leases"'
expect_line "$toml" 'walled_garden = []'
expect_line "$toml" 'languages = ["en", "sw"]'
expect_line "$toml" 'default_language = "en"'
# The symlink the command line follows resolves to the generated file inside the router.
expect_eq "edge.toml link" "/var/etc/hotspotd.toml" "$(readlink "$root/etc/hotspot/edge.toml")"
expect_eq "files in /var/etc" "hotspotd.toml" "$(ls "$root/var/etc")"
expect_eq "mode of the generated file" "644" "$(stat -c %a "$toml")"
# Nothing changed, nothing written: /etc/config/dhcp is on flash.
: > "$log"
in_root /etc/init.d/hotspotd reload
expect_line "$log" "procd_set_param file /var/etc/hotspotd.toml"
expect_no_line "$log" "uci commit dhcp"
expect_no_line "$log" "dnsmasq-init reload"

step "fake OpenWrt root: uci changes, reload"
cp "$toml" "$tmp/default.toml"
cat > "$root/etc/config/hotspotd" << 'EOF'
config hotspotd 'main'
	option enabled 'yes'
	option network 'guest'
	option port '8080'
	option base_url 'https://wifi.example.co.ke'
	option database '/mnt/usb/hotspot/edge.db'
	option firewall 'off'
	option stop_removes_clients 'on'
	option require_lease '0'
	option capture 'false'
	option log_level 'debug'

config site 'site'
	option name 'Mama Njeri Café'
	option hotspot_id '5b0e6a3c-2f1d-4c1e-9a8b-7d6c5b4a3f21'
	option title 'Karibu "WiFi"'
	option welcome 'Back\slash and "quotes" stay text'
	option accent_color '#112233'
	option support_phone '+254 711 000111'
	list language 'sw'
	list language 'en'

config walled_garden 'walled_garden'
	list domain 'pay.example.com'
	list domain 'm-pesa.safaricom.co.ke'
	list range '192.0.2.0/24'
	list range '2001:db8::1'

config cloud 'cloud'
	option url 'https://cloud.example'
	option ca_file '/etc/hotspot/cloud-ca.pem'
	option credential '/etc/hotspot/keys/device.json'

config limits 'limits'
	option max_connections '64'
	option max_failures '3'
	option cooldown '10'
	option max_cooldown '600'
	option down_kbps '2048'
	option up_kbps '512'
	option idle_timeout '300'
	option accounting_interval '15'
	option outbox_max_events '2000'
	option outbox_max_bytes '17179869184'

config radius 'radius'
	option enabled '1'
	list auth_server '192.0.2.10'
	list auth_server '192.0.2.11:1645'
	list acct_server '192.0.2.10:1813'
	option secret 'a "quoted" long secret'
	option nas_identifier 'njeri-1'
	option nas_ip_address '192.0.2.1'
	option timeout_ms '1500'
	option retries '1'
	option interim_interval '300'
	option mac_format 'aa:bb:cc:dd:ee:ff'
	option called_station_id 'Mama Njeri WiFi'
	option login 'radius'
	option das_listen '0.0.0.0:3799'
	list das_client '192.0.2.10'
	list das_client '192.0.2.12'
	option status_server_interval '60'
	option mac_auth '1'
	option radsec_ca '/etc/hotspot/radsec-ca.pem'
	option radsec_cert '/etc/hotspot/radsec-cert.pem'
	option radsec_key '/etc/hotspot/radsec-key.pem'
	option radsec_server_name 'radius.example.net'
EOF
printf 'dhcp.@dnsmasq[0].leasefile=/tmp/leases.guest\n' >> "$store"
# (An administrator's change, so part of "before" from here on.)
dhcp_before=$(printf '%s\ndhcp.@dnsmasq[0].leasefile=/tmp/leases.guest\n' "$dhcp_before" | sort)
: > "$log"
in_root /etc/init.d/hotspotd reload
real_check
for line in 'interface = "br-guest"' 'address = "10.20.0.1"' 'listen = "0.0.0.0:8080"' \
    'base_url = "https://wifi.example.co.ke"' 'path = "/mnt/usb/hotspot/edge.db"' \
    'backend = "off"' 'stop_removes_clients = true' 'require_lease = false' 'capture = false' \
    'name = "Mama Njeri Café"' 'hotspot_id = "5b0e6a3c-2f1d-4c1e-9a8b-7d6c5b4a3f21"' \
    'title = "Karibu \"WiFi\""' 'welcome = "Back\\slash and \"quotes\" stay text"' \
    'accent_color = "#112233"' 'support_phone = "+254 711 000111"' \
    'languages = ["sw", "en"]' 'default_language = "sw"' \
    'walled_garden = ["192.0.2.0/24", "2001:db8::1"]' 'url = "https://cloud.example"' \
    'ca_file = "/etc/hotspot/cloud-ca.pem"' 'credential = "/etc/hotspot/keys/device.json"' \
    'lease_file = "/tmp/leases.guest"' 'max_connections = 64' 'max_failures = 3' \
    'cooldown_seconds = 10' 'max_cooldown_seconds = 600' 'down_kbps = 2048' 'up_kbps = 512' \
    'idle_timeout_seconds = 300' 'accounting_interval_seconds = 15' \
    'outbox_max_events = 2000' 'outbox_max_bytes = 17179869184' \
    'enabled = true' 'auth_servers = ["192.0.2.10", "192.0.2.11:1645"]' \
    'acct_servers = ["192.0.2.10:1813"]' 'secret = "a \"quoted\" long secret"' \
    'nas_identifier = "njeri-1"' 'nas_ip_address = "192.0.2.1"' 'timeout_ms = 1500' \
    'retries = 1' 'interim_interval_seconds = 300' 'mac_format = "aa:bb:cc:dd:ee:ff"' \
    'called_station_id = "Mama Njeri WiFi"' 'login = "radius"' 'das_listen = "0.0.0.0:3799"' \
    'das_clients = ["192.0.2.10", "192.0.2.12"]' 'status_server_interval_seconds = 60' \
    'mac_auth = true' 'radsec_ca = "/etc/hotspot/radsec-ca.pem"' \
    'radsec_cert = "/etc/hotspot/radsec-cert.pem"' 'radsec_key = "/etc/hotspot/radsec-key.pem"' \
    'radsec_server_name = "radius.example.net"'; do
    expect_line "$toml" "$line"
done
# With a RADIUS secret in it, the generated file is for root only.
expect_eq "mode of the generated file with a RADIUS secret" "600" "$(stat -c %a "$toml")"
expect_line "$log" "procd_set_param netdev br-guest"
expect_line "$log" "procd_set_param env RUST_LOG=debug"
expect_line "$log" "procd_add_reload_interface_trigger guest"
# dnsmasq: option 114 moved to the guest network with the portal's URL; the walled garden's
# domains as an ipset section, from which dnsmasq's init writes
# nftset=/pay.example.com/m-pesa.safaricom.co.ke/4#inet#hotspot#garden_dns4,6#inet#hotspot#garden_dns6
expect_line "$store" "dhcp.guest.dhcp_option=114,https://wifi.example.co.ke/api/captive"
expect_no_line "$store" "dhcp.lan.dhcp_option=114,http://192.168.8.1:2050/api/captive"
expect_line "$store" "dhcp.lan.dhcp_option=3,192.168.8.1"
expect_eq "the walled garden's ipset section" "dhcp.hotspotd_garden=ipset
dhcp.hotspotd_garden.table=hotspot
dhcp.hotspotd_garden.table_family=inet
dhcp.hotspotd_garden.name=garden_dns4
dhcp.hotspotd_garden.name=garden_dns6
dhcp.hotspotd_garden.domain=pay.example.com
dhcp.hotspotd_garden.domain=m-pesa.safaricom.co.ke" "$(grep '^dhcp\.hotspotd_garden' "$store")"
expect_line "$log" "dnsmasq-init reload"
[ -d "$root/mnt/usb/hotspot" ] || fail "the database directory was not made"
ok
[ "$(stat -c %a "$root/etc/hotspot/keys")" = 700 ] || fail "the credential directory is not private"
ok
# The generated keys against the daemon's own, with every UCI option set.
# `config check` proves each key is known (deny_unknown_fields); this shows which of the daemon's
# keys UCI leaves at their defaults, so a new key is a decision, not an accident.
keys_of() { awk '/^\[/ { s = substr($1, 2, length($1) - 2) } /^#? *[a-z_]+ = / { sub(/^# */, ""); print s "." $1 }' | sort -u; }
qemu-aarch64 "$bin" config example | keys_of > "$tmp/daemon-keys"
keys_of < "$toml" > "$tmp/generated-keys"
expect_eq "daemon keys not set from UCI" "clients.neighbour_source
firewall.nft
portal.max_body_bytes
sync.interval_seconds
sync.report_seconds
sync.session_update_seconds" "$(comm -23 "$tmp/daemon-keys" "$tmp/generated-keys")"
expect_eq "generated keys the daemon lacks" "" "$(comm -13 "$tmp/daemon-keys" "$tmp/generated-keys")"

good=$(md5sum < "$toml")

step "fake OpenWrt root: bad settings keep the last good configuration"
# bad_setting SED-EXPRESSION MESSAGE-PART: one option broken; a reload keeps the running file.
bad_setting() {
    cp "$root/etc/config/hotspotd" "$tmp/good.config"
    sed -i "$1" "$root/etc/config/hotspotd"
    : > "$log"
    in_root /etc/init.d/hotspotd reload 2> "$tmp/stderr"
    grep -qF -- "$2" "$tmp/stderr" || {
        cat "$tmp/stderr" >&2
        fail "no '$2' on stderr"
    }
    grep -F "logger -t hotspotd -p daemon.err" "$log" | grep -qF -- "$2" ||
        {
            cat "$log" >&2
            fail "'$2' not logged"
        }
    expect_line "$log" "logger -t hotspotd -p daemon.warn keeping the last good configuration (/var/etc/hotspotd.toml)"
    expect_line "$log" "procd_set_param file /var/etc/hotspotd.toml"
    expect_eq "configuration after a bad reload" "$good" "$(md5sum < "$toml")"
    expect_no_line "$log" "uci commit dhcp"
    expect_eq "files in /var/etc" "hotspotd.toml" "$(ls "$root/var/etc")"
    # Nothing made from the refused setting (a relative database path would be made in /).
    [ ! -e "$root/edge.db" ] || fail "a directory was made from a refused setting"
    ok
    cp "$tmp/good.config" "$root/etc/config/hotspotd"
}
bad_setting "s/option port '8080'/option port '80 80'/" "hotspotd.main.port must be a port number, not '80 80'"
bad_setting "s/option idle_timeout '300'/option idle_timeout '5m'/" "hotspotd.limits.idle_timeout must be a whole number, not '5m'"
bad_setting "s/option firewall 'off'/option firewall 'iptables'/" "hotspotd.main.firewall must be 'nftables' or 'off'"
bad_setting "s/option log_level 'debug'/option log_level 'loud'/" "hotspotd.main.log_level must be"
bad_setting "s/list domain 'pay.example.com'/list domain 'pay_example.com'/" "hotspotd.walled_garden.domain 'pay_example.com' is not a domain name"
bad_setting "s|option database '/mnt/usb/hotspot/edge.db'|option database 'edge.db'|" "hotspotd.main.database must be an absolute path to a file, not 'edge.db'"
bad_setting "s|option credential '/etc/hotspot/keys/device.json'|option credential '/etc/hotspot/'|" "hotspotd.cloud.credential must be an absolute path to a file, not '/etc/hotspot/'"
# A value over two lines cannot smuggle a key into the TOML file.
bad_setting "s/option title 'Karibu \"WiFi\"'/option title 'x\"\\nbackend = \"off'/" "hotspotd.site.title must be one line"
# What only the daemon knows is wrong: its `config check` refuses the file.
echo "branding.accent_color: must be a colour like #0a7d55" > "$root/etc/shim-hotspotd-refuses"
bad_setting "s/#112233/#11223/" "branding.accent_color: must be a colour like #0a7d55"
rm "$root/etc/shim-hotspotd-refuses"
# With no last good configuration (after a reboot) a bad setting stops the start.
sed -i "s/option port '8080'/option port 'http'/" "$root/etc/config/hotspotd"
rm "$toml"
: > "$log"
if in_root /etc/init.d/hotspotd start 2> /dev/null; then fail "start succeeded with a bad port"; fi
ok
expect_no_line "$log" "procd_open_instance"
[ ! -e "$toml" ] || fail "a configuration was written from a bad setting"
ok
cp "$tmp/good.config" "$root/etc/config/hotspotd"

step "fake OpenWrt root: LAN down, disabled"
printf 'lan br-lan 192.168.8.1\n' > "$root/etc/shim-network"
: > "$log"
in_root /etc/init.d/hotspotd start
expect_no_line "$log" "procd_open_instance"
expect_line "$log" "logger -t hotspotd -p daemon.notice network 'guest' has no device or IPv4 address yet; waiting for it"
expect_line "$log" "procd_add_reload_interface_trigger guest"
sed -i "s/option enabled 'yes'/option enabled '0'/" "$root/etc/config/hotspotd"
: > "$log"
in_root /etc/init.d/hotspotd start
expect_no_line "$log" "procd_open_instance"
expect_line "$log" "procd_add_reload_trigger hotspotd"

step "fake OpenWrt root: uninstall"
: > "$log"
in_root /bin/sh /usr/lib/opkg/info/hotspotd.prerm
in_root /bin/sh /usr/lib/opkg/info/hotspotd.postrm
expect_eq "procd calls at removal" "rc hotspotd stop
procd_kill hotspotd
rc hotspotd forget_dnsmasq
rc hotspotd disable" "$(procd_calls)"
# dnsmasq's configuration is as it was before the install.
expect_eq "/etc/config/dhcp after removal" "$dhcp_before" "$(grep '^dhcp\.' "$store" | sort)"
expect_line "$log" "dnsmasq-init reload"
[ -z "$(ls "$root/etc/rc.d")" ] || fail "rc.d links left: $(ls "$root/etc/rc.d")"
ok
[ ! -e "$toml" ] || fail "the generated configuration was left behind"
ok
expect_line "$log" "nft delete table inet hotspot"
# An upgrade stops the old daemon but keeps the service enabled.
in_root /etc/init.d/hotspotd enable
: > "$log"
in_root /bin/env PKG_UPGRADE=1 /bin/sh /usr/lib/opkg/info/hotspotd.prerm
in_root /bin/env PKG_UPGRADE=1 /bin/sh /usr/lib/opkg/info/hotspotd.postrm
expect_line "$log" "rc hotspotd stop"
expect_no_line "$log" "rc hotspotd disable"
expect_no_line "$log" "rc hotspotd forget_dnsmasq"
expect_no_line "$log" "nft delete table inet hotspot"
[ -L "$root/etc/rc.d/S95hotspotd" ] || fail "an upgrade disabled the service"
ok

step "fake OpenWrt root: building an image (IPKG_INSTROOT)"
img=$root/img
mkdir -p "$img/etc/init.d" "$img/etc/uci-defaults"
cp "$root/etc/rc.common" "$img/etc/rc.common"
cp "$root/etc/init.d/hotspotd" "$img/etc/init.d/hotspotd"
cp packaging/openwrt/files/hotspotd.uci-defaults "$img/etc/uci-defaults/90-hotspotd"
: > "$log"
in_root /bin/env IPKG_INSTROOT=/img /bin/sh /usr/lib/opkg/info/hotspotd.postinst
[ -L "$img/etc/rc.d/S95hotspotd" ] || fail "not enabled in the image"
ok
expect_no_line "$log" "rc hotspotd start"
expect_no_line "$log" "uci commit firewall"
[ -f "$img/etc/uci-defaults/90-hotspotd" ] || fail "uci-defaults ran at image build instead of first boot"
ok

step "OpenWrt package: $checks checks passed"
