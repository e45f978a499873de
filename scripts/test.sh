#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (plugin, host, tools,
# tests, benchmarks) into build/, runs every GoogleTest suite through CTest, then the
# browser tests of the Management UI in headless Chromium.
#
# Environment: BUILD_DIR (default build), BUILD_TYPE (default RelWithDebInfo),
# SIGNAL_SANITIZE (e.g. address,undefined), SKIP_UI_TESTS=1 to skip the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-2}

scripts/install-deps.sh --ui

# Let ccache reuse objects across checkouts of the repo (CI builds a fresh clone).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DSIGNAL_SANITIZE="${SIGNAL_SANITIZE:-}"
cmake --build "$build_dir" -j"$jobs"

ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 600

if [[ "${SKIP_UI_TESTS:-0}" != "1" && -d tests/ui ]]; then
  (cd tests/ui && npm ci --no-audit --no-fund --silent &&
    SIGNAL_BUILD_DIR="$root/$build_dir" node --test)
fi
