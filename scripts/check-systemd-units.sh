#!/usr/bin/env bash
# systemd-analyze verify on packaging/systemd/*.service, each pointed at the binary this tree
# built (its ExecStart path rewritten into a temporary copy), so the check needs nothing
# installed under /usr. Any complaint about one of our units fails; the host's own units'
# warnings are ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

bin_dir=${1:-target/debug}
tmp=$(mktemp -d /tmp/hotspot-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
units=()
for unit in packaging/systemd/*.service; do
    name=$(basename "$unit")
    sed -e "s|/usr/sbin/hotspotd|$PWD/$bin_dir/hotspotd|" \
        -e "s|/usr/bin/hotspot-cloud|$PWD/$bin_dir/hotspot-cloud|" "$unit" > "$tmp/$name"
    units+=("$tmp/$name")
done
out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1) || {
    printf '%s\n' "$out" >&2
    die "systemd-analyze verify failed"
}
ours=$(printf '%s\n' "$out" | grep -F -e hotspotd -e hotspot-cloud || true)
[ -z "$ours" ] || {
    printf '%s\n' "$ours" >&2
    die "systemd-analyze verify complained about our units"
}
echo "systemd units verified: ${units[*]##*/}"
