#!/usr/bin/env bash
# Builds the OpenWrt 24.10 packages of hotspotd: target/openwrt/hotspotd_<version>_<arch>.ipk for
# each aarch64 and armv7 package architecture (one static binary per CPU serves all its arches).
#
#   bash scripts/package-openwrt.sh
#
# HOTSPOTD_AARCH64_BIN=path  package this static aarch64 binary instead of building it
# HOTSPOTD_ARMV7_BIN=path    package this static armv7 (gnueabihf) binary instead of building it
# CPUS="aarch64 armv7"       the CPUs to package for (default: both)
# SOURCE_DATE_EPOCH          timestamp of every file in the package (default: the last commit's
#                            time); the same inputs and timestamp give byte-identical packages
# OUT_DIR=dir                where the packages go (default: target/openwrt)
#
# The layout is what OpenWrt's scripts/ipkg-build writes: a gzip'd tar of ./debian-binary,
# ./data.tar.gz and ./control.tar.gz, each tar in GNU format with numeric owner 0:0, sorted
# names and one mtime, gzip without a name or time stamp.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

# OpenWrt's package architectures for each CPU's common targets.
# aarch64: mediatek/filogic, mvebu, rockchip, bcm27xx … are cortex-a53; armsr/armv8 and others
# are generic.
aarch64_arches=(aarch64_cortex-a53 aarch64_generic)
# armv7: Rust's armv7-unknown-linux-gnueabihf is ARMv7-A with VFPv3-D16 and hard-float calls,
# which every one of these has (NEON and VFPv4 are more, not less). ipq40xx, sunxi, mt7623 are
# cortex-a7; mvebu's Armada 38x (Turris Omnia, WRT AC series) cortex-a9_vfpv3-d16; ipq806x
# cortex-a15. Arches without a VFP (bcm53xx's arm_cortex-a9) cannot run it.
armv7_arches=(arm_cortex-a7_neon-vfpv4 arm_cortex-a9_vfpv3-d16 arm_cortex-a15_neon-vfpv4)
read -r -a cpus <<< "${CPUS:-aarch64 armv7}"
release=1
budget=$((3 * 1024 * 1024))
files=packaging/openwrt/files
out=${OUT_DIR:-target/openwrt}

for tool in tar gzip readelf; do
    command -v "$tool" > /dev/null || die "$tool is needed (Debian packages tar, gzip, binutils)"
done

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || die "no version in Cargo.toml's [workspace.package]"
pkg_version="$version-r$release"

if [ -z "${SOURCE_DATE_EPOCH-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2> /dev/null) ||
        die "not in a git checkout: set SOURCE_DATE_EPOCH"
fi
case "$SOURCE_DATE_EPOCH" in
    '' | *[!0-9]*) die "SOURCE_DATE_EPOCH must be seconds since 1970, not '$SOURCE_DATE_EPOCH'" ;;
esac

work=$(mktemp -d /tmp/hotspotd-ipk.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# static_binary CPU: the binary to package for CPU, built (as scripts/test.sh builds it) when
# none is given, and checked: an ELF for that CPU, static.
static_binary() {
    local cpu=$1 bin machine header
    case $cpu in
        aarch64) bin=${HOTSPOTD_AARCH64_BIN-} machine='AArch64' ;;
        armv7) bin=${HOTSPOTD_ARMV7_BIN-} machine='ARM$' ;;
        *) die "no router CPU '$cpu' (aarch64 or armv7)" ;;
    esac
    if [ -z "$bin" ]; then
        step "building static $cpu hotspotd (profile edge)" >&2
        cross_cargo "$cpu" build --locked --profile edge -p hotspot-edge --bin hotspotd >&2
        bin=$(cross_bin "$cpu")
    fi
    [ -f "$bin" ] || die "no binary at $bin"
    header=$(LC_ALL=C readelf -h "$bin" 2> /dev/null) || die "$bin is not an ELF file"
    grep -q "Machine: *$machine" <<< "$header" || die "$bin is not an $cpu binary"
    if [ "$cpu" = armv7 ]; then
        grep -q 'Flags:.*hard-float ABI' <<< "$header" || die "$bin is not hard-float (gnueabihf)"
    fi
    if LC_ALL=C readelf -l "$bin" | grep -q 'INTERP'; then
        die "$bin is dynamically linked; OpenWrt has no glibc, so it must be static"
    fi
    echo "$bin"
}

# reproducible_tar DIR OUT.tar.gz NAME...: NAMEs of DIR as ipkg-build packs them.
reproducible_tar() {
    local dir=$1 archive=$2
    shift 2
    (cd "$dir" && tar --format=gnu --numeric-owner --owner=0 --group=0 --sort=name \
        --mtime="@$SOURCE_DATE_EPOCH" -cf - "$@") | gzip -n -9 > "$archive"
}

for cpu in "${cpus[@]}"; do
    bin=$(static_binary "$cpu")
    case $cpu in
        aarch64) arches=("${aarch64_arches[@]}") ;;
        armv7) arches=("${armv7_arches[@]}") ;;
    esac

    # The installed files, with the modes OpenWrt's INSTALL_BIN (0755) and INSTALL_CONF (0600)
    # give.
    data=$work/data-$cpu
    install -d -m 0755 "$data"/usr/sbin "$data"/etc/init.d "$data"/etc/config "$data"/etc/uci-defaults
    install -d -m 0700 "$data"/etc/hotspot
    install -m 0755 "$bin" "$data"/usr/sbin/hotspotd
    install -m 0755 "$files"/hotspotd.init "$data"/etc/init.d/hotspotd
    install -m 0600 "$files"/hotspotd.config "$data"/etc/config/hotspotd
    install -m 0755 "$files"/hotspotd.uci-defaults "$data"/etc/uci-defaults/90-hotspotd
    # Where the command line (`hotspotd status`, `hotspotd claim`) looks by default: the
    # configuration the service generated.
    ln -s /var/etc/hotspotd.toml "$data"/etc/hotspot/edge.toml
    chmod 0755 "$data" "$data"/usr "$data"/etc

    # Installed-Size: the bytes of the files (not of directories, which depend on the file system).
    installed_size=$(find "$data" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')

    # The same data.tar.gz for every arch of this CPU: only the control file differs.
    step "packaging hotspotd $pkg_version for ${arches[*]} from $bin"
    payload=$work/data-$cpu.tar.gz
    reproducible_tar "$data" "$payload" .
    for arch in "${arches[@]}"; do
        control=$work/control-$arch
        install -d -m 0755 "$control"
        cat > "$control/control" << EOF
Package: hotspotd
Version: $pkg_version
Depends: kmod-nft-core, kmod-nft-nat, nftables-json
License: AGPL-3.0-only
Section: net
Architecture: $arch
Installed-Size: $installed_size
Description: Captive portal, vouchers and per-client bandwidth for WiFi hotspots.
 hotspotd runs the guest portal, checks vouchers and registered devices from its own SQLite
 database (it works with the uplink down), and enforces access and bandwidth with nftables.
 Configured in /etc/config/hotspotd.
EOF
        echo /etc/config/hotspotd > "$control/conffiles"
        # As OpenWrt's default_postinst/default_prerm: only on the running router (not while an
        # image is built with IPKG_INSTROOT), enable unless upgrading, and start/stop.
        cat > "$control/postinst" << 'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
if [ -n "${IPKG_INSTROOT}" ]; then
	# Building an image: enable it there; uci-defaults runs on its first boot.
	/bin/sh "${IPKG_INSTROOT}/etc/rc.common" "${IPKG_INSTROOT}/etc/init.d/hotspotd" enable
	exit 0
fi
if [ -f /etc/uci-defaults/90-hotspotd ]; then
	(cd /etc/uci-defaults && . ./90-hotspotd) && rm -f /etc/uci-defaults/90-hotspotd
fi
[ "${PKG_UPGRADE}" = "1" ] || /etc/init.d/hotspotd enable
/etc/init.d/hotspotd start
exit 0
EOF
        cat > "$control/prerm" << 'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
if [ -n "${IPKG_INSTROOT}" ]; then
	/bin/sh "${IPKG_INSTROOT}/etc/rc.common" "${IPKG_INSTROOT}/etc/init.d/hotspotd" disable
	exit 0
fi
/etc/init.d/hotspotd stop
if [ "${PKG_UPGRADE}" != "1" ]; then
	# DHCP option 114 and the walled garden's ipset section leave /etc/config/dhcp with us.
	/etc/init.d/hotspotd forget_dnsmasq
	/etc/init.d/hotspotd disable
fi
exit 0
EOF
        cat > "$control/postrm" << 'EOF'
#!/bin/sh
[ "${IPKG_NO_SCRIPT}" = "1" ] && exit 0
[ -n "${IPKG_INSTROOT}" ] && exit 0
# The generated configuration lives in RAM; the database and the device credential stay, as
# data an operator may still want (docs/openwrt.md, "Removing").
rm -f /var/etc/hotspotd.toml /var/etc/hotspotd.toml.??????
# A stopped hotspotd leaves its table (guests not logged in still meet the portal); removed,
# nothing would answer that portal, so the table goes too. An upgrade keeps it for the new one.
[ "${PKG_UPGRADE}" = "1" ] || nft delete table inet hotspot 2> /dev/null || true
exit 0
EOF
        chmod 0644 "$control/control" "$control/conffiles"
        chmod 0755 "$control/postinst" "$control/prerm" "$control/postrm"

        pkg=$work/pkg-$arch
        install -d -m 0755 "$pkg"
        echo "2.0" > "$pkg/debian-binary"
        chmod 0644 "$pkg/debian-binary"
        reproducible_tar "$control" "$pkg/control.tar.gz" .
        cp "$payload" "$pkg/data.tar.gz"
        chmod 0644 "$pkg/control.tar.gz" "$pkg/data.tar.gz"
        ipk=$out/hotspotd_${pkg_version}_${arch}.ipk
        reproducible_tar "$pkg" "$ipk.tmp" ./debian-binary ./data.tar.gz ./control.tar.gz
        mv "$ipk.tmp" "$ipk"
        size=$(stat -c %s "$ipk")
        printf '%s: %d bytes (%.2f MiB), installed %d bytes\n' "$ipk" "$size" \
            "$(awk "BEGIN{print $size/1048576}")" "$installed_size"
        [ "$size" -le "$budget" ] || die "$ipk is over its 3 MiB budget"
    done
done
