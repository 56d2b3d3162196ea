#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, conformance suites
# and the end-to-end tests that drive berthd with the real docker CLI.
# Needs root, runc and busybox-static (see .ci/run for the packages).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
# Root-only tests fail instead of skipping when they cannot run.
export BERTH_REQUIRE_ROOT_TESTS=1
cargo test --workspace --no-run
cargo test --workspace
# docker-py against berthd: our tests, then docker-py's own integration
# suite compared with what passes against Debian's dockerd.
scripts/dockerpy.sh own
scripts/dockerpy.sh upstream
