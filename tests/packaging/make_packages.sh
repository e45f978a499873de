#!/usr/bin/env bash
# Fixture: builds the Debian packages from the finished build with CPack and extracts
# them into a temporary root whose directories pass the host's plugin-file checks
# (root-owned, not group/other-writable). Usage: make_packages.sh BUILD_DIR VERSION STATE
source "$(dirname "$0")/lib.sh"
build_dir=$1 version=$2 state=$3

work=$(mktemp -d /tmp/signal-packaging.XXXXXX)
chmod 0755 "$work"
echo "$work" >"$state"

started=$(date +%s)
cpack --config "$build_dir/CPackConfig.cmake" -B "$work/debs" >"$work/cpack.log" 2>&1 || {
  cat "$work/cpack.log" >&2
  fail "cpack failed"
}
echo "cpack: $(($(date +%s) - started)) s"

mkdir -m 0755 "$work/root"
for package in signal-delivery-host signal-delivery-host-dev signal-delivery-host-sandbox; do
  deb="$work/debs/${package}_${version}_amd64.deb"
  [[ -f "$deb" ]] || fail "$deb was not built; built: $(ls "$work/debs")"
  dpkg-deb -x "$deb" "$work/root"
  echo "$(basename "$deb"): $(stat -c %s "$deb") bytes"
done
chmod -R go-w "$work/root"
