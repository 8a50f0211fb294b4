#!/usr/bin/env bash
# Builds the hotspot-cloud container image from a binary this tree built, without pulling any
# image: packaging/container/Containerfile.scratch over a context holding the binary (stripped),
# the shared libraries `ldd` names for it, the host's CA bundle (the M-Pesa client verifies
# Daraja's certificate against the system roots) and a minimal /etc (passwd, group,
# nsswitch.conf).
#
#   bash scripts/build-container.sh [BINARY] [TAG]
#
# BINARY defaults to target/release/hotspot-cloud (built if missing), TAG to
# hotspot-cloud:<version>. Extra buildah global options (say `--root DIR --runroot DIR
# --storage-driver vfs`) come from BUILDAH_OPTS.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

bin=${1:-target/release/hotspot-cloud}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' cloud/Cargo.toml | head -1)
tag=${2:-hotspot-cloud:$version}
read -r -a opts <<< "${BUILDAH_OPTS-}"

command -v buildah > /dev/null || die "buildah is not installed (apt-get install buildah)"
if [ ! -x "$bin" ]; then
    [ "$bin" = target/release/hotspot-cloud ] || die "$bin: no such binary"
    cargo build --release --locked -p hotspot-cloud
fi

ctx=$(mktemp -d /tmp/hotspot-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
root=$ctx/rootfs
mkdir -p "$root/usr/bin" "$root/etc/ssl/certs" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$bin" "$root/usr/bin/hotspot-cloud"
strip "$root/usr/bin/hotspot-cloud"

# The dynamic loader and every library the binary links, at the paths it looks them up by.
libs=$(ldd "$bin" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }')
[ -n "$libs" ] || die "ldd found no libraries for $bin"
for lib in $libs; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$bundle" ] || die "$bundle is missing (apt-get install ca-certificates)"
cp "$bundle" "$root$bundle"
printf 'root:x:0:0:root:/:/usr/bin/hotspot-cloud\nnobody:x:65534:65534:nobody:/nonexistent:/usr/bin/hotspot-cloud\n' \
    > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"

cp packaging/container/Containerfile.scratch "$ctx/Containerfile"
# Reproducible: every file and the image's creation time at the last commit's time.
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2> /dev/null || echo 0)}
find "$root" -exec touch -h -d "@$epoch" {} +
buildah "${opts[@]}" build --quiet --layers=false --timestamp "$epoch" \
    -f "$ctx/Containerfile" -t "$tag" "$ctx" > /dev/null
echo "built $tag from $bin"
