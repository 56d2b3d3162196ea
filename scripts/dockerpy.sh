#!/bin/bash
# docker-py (the Docker SDK for Python) against a daemon started here on a
# temporary socket and data root.
#
#   scripts/dockerpy.sh own      [--daemon berthd|dockerd]   our tests (tests/dockerpy/own)
#   scripts/dockerpy.sh upstream [--daemon berthd|dockerd]   docker-py's own integration suite
#
# `own` fails if a test fails. `upstream` runs docker-py 7.1.0's integration
# tests for containers, exec, images, volumes and the API basics, unchanged
# (tests/dockerpy/upstream); some need Docker Hub or swarm and fail on any
# daemon here, so against berthd it fails only if a test that passes against
# Debian's dockerd (tests/dockerpy/upstream-expected.txt, made with
# `--daemon dockerd --write-expected`) fails. Nothing is pulled: the images
# the suite asks for are busybox from Debian's busybox-static under their
# names. Needs root, python3-venv, runc, busybox-static (and docker.io for
# --daemon dockerd).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

suite=${1:?usage: scripts/dockerpy.sh own|upstream [--daemon berthd|dockerd] [--write-expected]}
shift
daemon=berthd
write_expected=0
pytest_extra=()
while [ $# -gt 0 ]; do
    case $1 in
        --daemon) daemon=$2; shift 2 ;;
        --write-expected) write_expected=1; shift ;;
        --) shift; pytest_extra=("$@"); break ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
case $suite in own|upstream) ;; *) echo "unknown suite $suite" >&2; exit 2 ;; esac

target=${CARGO_TARGET_DIR:-$ROOT/target}
venv=$target/dockerpy-venv
if ! "$venv/bin/python" -c 'import docker, pytest, paramiko' 2>/dev/null; then
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r tests/dockerpy/requirements.txt
fi

work=$(mktemp -d /tmp/berth-dockerpy-XXXXXX)
sock=$work/docker.sock
pid=
cleanup() {
    set +e
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        # berthd's containers outlive it; remove them first, as a user would.
        ids=$(DOCKER_HOST=unix://$sock timeout 60 docker ps -aq 2>/dev/null)
        [ -n "$ids" ] && DOCKER_HOST=unix://$sock timeout 120 docker rm -f -v $ids >/dev/null 2>&1
        kill -TERM "$pid"
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    fi
    # dockerd's containerd, if it outlived dockerd.
    [ -f "$work/exec/containerd/containerd.pid" ] && kill -TERM "$(cat "$work/exec/containerd/containerd.pid")" 2>/dev/null
    grep -o " $work/[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m"; done
    rm -rf "$work"
}
trap cleanup EXIT

case $daemon in
    berthd)
        cargo build -q -p berthd
        "$target/debug/berthd" --data-root "$work/root" --exec-root "$work/exec" \
            -H "unix://$sock" --log-level info >"$work/daemon.log" 2>&1 &
        pid=$!
        ;;
    dockerd)
        echo '{}' >"$work/daemon.json"
        dockerd --config-file "$work/daemon.json" --data-root "$work/root" --exec-root "$work/exec" \
            -H "unix://$sock" --pidfile "$work/docker.pid" --iptables=false --bridge=none \
            >"$work/daemon.log" 2>&1 &
        pid=$!
        ;;
    *) echo "unknown daemon $daemon" >&2; exit 2 ;;
esac
export DOCKER_HOST=unix://$sock
for _ in $(seq 600); do
    docker version >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { echo "$daemon exited:"; tail -20 "$work/daemon.log"; exit 1; }
    sleep 0.1
done

scripts/build-busybox-image.sh "$work/busybox.tar"
docker import --change 'CMD ["sh"]' "$work/busybox.tar" busybox:latest >/dev/null
# The names docker-py's suite uses for its test image.
for name in alpine:3.10 alpine:latest; do docker tag busybox:latest "$name"; done

export PYTHONDONTWRITEBYTECODE=1
junit=$work/junit.xml
status=0
case $suite in
    own)
        "$venv/bin/python" -m pytest -p no:cacheprovider -q --timeout 300 \
            --junitxml "$junit" tests/dockerpy/own "${pytest_extra[@]}" || status=$?
        ;;
    upstream)
        # The API version dockerd 20.10 speaks, so that the comparison with
        # it is like for like (the suite's client otherwise negotiates).
        export DOCKER_TEST_API_VERSION=${DOCKER_TEST_API_VERSION:-1.41}
        (cd tests/dockerpy/upstream &&
            "$venv/bin/python" -m pytest -p no:cacheprovider -q --timeout 300 -o addopts="" \
                -rN --junitxml "$junit" tests/integration "${pytest_extra[@]}") >"$work/pytest.out" 2>&1 || true
        tail -3 "$work/pytest.out"
        if [ "$write_expected" = 1 ]; then
            {
                echo "# The tests of docker-py 7.1.0's integration suite (tests/dockerpy/upstream) that"
                echo "# pass against Debian's dockerd 20.10 on this machine kind, made with"
                echo "# \`scripts/dockerpy.sh upstream --daemon dockerd --write-expected\`."
                "$venv/bin/python" tests/dockerpy/compare.py passed "$junit"
            } >tests/dockerpy/upstream-expected.txt
            echo "wrote tests/dockerpy/upstream-expected.txt ($(wc -l <tests/dockerpy/upstream-expected.txt) tests)"
        else
            "$venv/bin/python" tests/dockerpy/compare.py check "$junit" \
                tests/dockerpy/upstream-expected.txt tests/dockerpy/upstream-known-gaps.txt || status=$?
        fi
        ;;
esac
# Kept for reading after the run (the work dir goes).
cp "$junit" "$target/dockerpy-$suite-$daemon.xml" 2>/dev/null || true
[ -f "$work/pytest.out" ] && cp "$work/pytest.out" "$target/dockerpy-$suite-$daemon.out"
if [ "$status" != 0 ]; then
    echo "--- $daemon log (tail) ---"
    tail -30 "$work/daemon.log"
fi
exit "$status"
