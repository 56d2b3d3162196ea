#!/usr/bin/env bash
# Builds berthd, starts it with its embedded defaults (data root
# /var/lib/berth, socket /run/berth/berth.sock, runc from PATH) and shows the
# docker CLI using it. berthd keeps running afterwards; stop it with
# `kill $(cat /run/berth/berthd.pid)`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v runc >/dev/null || [ ! -x /bin/busybox ]; then
    echo "+ installing runc and busybox-static"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc busybox-static >/dev/null
fi
cargo build --release -p berthd
sock=/run/berth/berth.sock
export DOCKER_HOST=unix://$sock
if ! docker version >/dev/null 2>&1; then
    mkdir -p /run/berth
    nohup target/release/berthd >/run/berth/berthd.log 2>&1 &
    echo $! > /run/berth/berthd.pid
    for _ in $(seq 100); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
fi
if ! docker image inspect busybox >/dev/null 2>&1; then
    tmp=$(mktemp -d)
    scripts/build-busybox-image.sh "$tmp/busybox.tar"
    docker import --change 'CMD ["sh"]' "$tmp/busybox.tar" busybox:latest
    rm -rf "$tmp"
fi
set -x
docker version --format 'client {{.Client.Version}} -> server {{.Server.Version}} (API {{.Server.APIVersion}})'
docker run --rm busybox echo hello from berth
docker run --rm busybox sh -c 'echo out; echo err >&2' 2>/dev/null
echo hello | docker run -i --rm busybox cat
docker run -d --name berth-demo busybox sh -c 'for i in 1 2 3; do echo tick $i; sleep 0.2; done'
docker wait berth-demo
docker logs berth-demo
docker ps -a --filter name=berth-demo
docker rm berth-demo
docker images
set +x
echo
echo "berthd is running (log: /run/berth/berthd.log). Use it with:"
echo "  export DOCKER_HOST=$DOCKER_HOST"
