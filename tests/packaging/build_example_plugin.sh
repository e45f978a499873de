#!/usr/bin/env bash
# Fixture: builds examples/webhook-plugin out of tree against the SDK *installed* from the
# -dev package (find_package through CMAKE_PREFIX_PATH, nothing from the build folder),
# and installs it into the installed host's plugin directory.
# Usage: build_example_plugin.sh STATE SOURCE_DIR
source "$(dirname "$0")/lib.sh"
work=$(packaging_work_dir "$1")
source_dir=$2
root=$work/root
build=$work/example-build

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
started=$(date +%s)
cmake -S "$source_dir/examples/webhook-plugin" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_INSTALL_PREFIX="$root/usr" "${launcher[@]}" \
  >"$work/example-configure.log" 2>&1 || { cat "$work/example-configure.log" >&2; fail "configure"; }
grep -q "^SignalPlugin_DIR:PATH=$root/usr/lib/cmake/SignalPlugin$" "$build/CMakeCache.txt" ||
  fail "find_package did not use the installed SDK: $(grep SignalPlugin_DIR "$build/CMakeCache.txt")"
cmake --build "$build" >"$work/example-build.log" 2>&1 || { cat "$work/example-build.log" >&2; fail "build"; }
cmake --install "$build" >/dev/null
echo "example plugin configured and built in $(($(date +%s) - started)) s"

plugin=$root/usr/lib/signal/plugins/libsignal_webhook.so
[[ -f "$plugin" ]] || fail "the example did not install into the host's plugin directory"
# It exports its C ABI entry point and nothing else.
exports=$(nm -D --defined-only "$plugin" | awk '{print $3}')
[[ "$exports" == signal_plugin_descriptor_v1 ]] || fail "the example exports: $exports"
chmod -R go-w "$root"
