#!/usr/bin/env bash
# Builds the cloud's container image from the binary given (scripts/build-container.sh) and
# runs it with podman: the image's own entrypoint applies the migrations to a database of its
# own, serves, answers /health/ready (which needs a writable database) and the API, runs as
# nobody, and stops cleanly on SIGTERM. Images and containers live in a temporary storage root
# removed at the end.
#
#   bash packaging/container/test-image.sh BINARY
#
# Needs DATABASE_URL (a PostgreSQL superuser URL on 127.0.0.1: the container shares the host's
# network), buildah, podman and runc.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/lib.sh

bin=${1:?usage: test-image.sh BINARY}
: "${DATABASE_URL:?DATABASE_URL must name a PostgreSQL server}"
for tool in buildah podman runc psql curl; do
    command -v "$tool" > /dev/null || die "$tool is not installed"
done

store=$(mktemp -d /tmp/hotspot-image-store.XXXXXX)
db="hotspot_image_$$"
admin=$DATABASE_URL
# The storage root and the runtime: vfs needs no overlay support from the kernel; runc, not
# crun, because crun cannot drop the cgroup v1 controllers a hybrid host mounts.
podman_opts=(--root "$store/root" --runroot "$store/run" --storage-driver vfs --runtime runc)
name="hotspot-cloud-test-$$"
cleanup() {
    podman "${podman_opts[@]}" rm -f -t 0 "$name" > /dev/null 2>&1 || true
    podman "${podman_opts[@]}" rmi -a -f > /dev/null 2>&1 || true
    rm -rf "$store"
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" > /dev/null 2>&1 || true
}
trap cleanup EXIT

BUILDAH_OPTS="--root $store/root --runroot $store/run --storage-driver vfs" \
    bash scripts/build-container.sh "$bin" hotspot-cloud:test
size=$(podman "${podman_opts[@]}" image inspect hotspot-cloud:test --format '{{.Size}}')
user=$(podman "${podman_opts[@]}" image inspect hotspot-cloud:test --format '{{.Config.User}}')
[ "$user" = "65534:65534" ] || die "the image runs as '$user', not as nobody"

psql "$admin" -qc "CREATE DATABASE $db" > /dev/null
url=$(printf '%s' "$admin" | sed "s|/[^/?]*\(?.*\)\?$|/$db\1|")
port=$(free_port 18640)
# Limits lowered to what the host allows: the runtime sets them, and some hosts refuse a raise.
podman "${podman_opts[@]}" run -d --name "$name" --network host \
    --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 \
    -e DATABASE_URL="$url" -e HOTSPOT_LISTEN="127.0.0.1:$port" hotspot-cloud:test > /dev/null

ready=""
for _ in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/health/ready" > /dev/null 2>&1; then
        ready=1
        break
    fi
    state=$(podman "${podman_opts[@]}" inspect "$name" --format '{{.State.Status}}')
    [ "$state" = running ] || break
    sleep 0.5
done
if [ -z "$ready" ]; then
    podman "${podman_opts[@]}" logs "$name" >&2 || true
    die "the container did not become ready"
fi
migrations=$(psql "$url" -Atc "SELECT count(*) FROM schema_migrations" 2> /dev/null || echo 0)
[ "$migrations" -gt 0 ] || die "the container's database has no migrations applied"
curl -fsS "http://127.0.0.1:$port/api/openapi.json" | grep -q '"openapi"' ||
    die "the container's API did not serve its OpenAPI document"
uid=$(podman "${podman_opts[@]}" top "$name" huser | sed -n 2p)

podman "${podman_opts[@]}" stop -t 20 "$name" > /dev/null
code=$(podman "${podman_opts[@]}" inspect "$name" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || {
    podman "${podman_opts[@]}" logs "$name" >&2 || true
    die "the container exited with $code on SIGTERM"
}
printf 'container image: %d bytes (%.1f MiB), ran as uid %s, ready, %s migrations, stopped cleanly on SIGTERM\n' \
    "$size" "$(awk "BEGIN{print $size/1048576}")" "$uid" "$migrations"
