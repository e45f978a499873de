#!/usr/bin/env bash
# Installs the Debian 12 packages the build, tests, fuzzers (clang) and demo need, only
# those missing.
# Packaging (BUILD.md): dpkg-dev and file (CPack's dpkg-shlibdeps step), help2man (man pages); for
# the packaging tests systemd (systemd-analyze), shellcheck and yamllint.
# Usage: scripts/install-deps.sh [--ui]   (--ui adds Chromium for the browser tests)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libcurl4-openssl-dev libcpp-httplib-dev libsimdjson-dev rapidjson-dev
  libsqlite3-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev curl
  libboost-dev zlib1g-dev
  postgresql libpq-dev  # the PostgreSQL mode (host/store/postgres) and its tests
  librdkafka-dev  # the Kafka mode (host/kafka) and its mock cluster in tests
  dpkg-dev file help2man systemd shellcheck yamllint
  clang libclang-rt-14-dev
  lcov  # scripts/coverage.sh
)
if [[ "${1:-}" == "--ui" ]]; then
  packages+=(chromium chromium-driver)
  command -v node >/dev/null 2>&1 || packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
echo "Installing missing Debian packages: ${missing[*]}"
sudo_cmd=()
[[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
