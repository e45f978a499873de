#!/usr/bin/env bash
# Line coverage of this project's C++ code by the C++ test suites. Builds with gcc
# --coverage into build-coverage/, runs every CTest test, and writes into
# build-coverage/coverage/:
#   coverage.info     lcov tracefile of plugin/, host/, tools/ (tests, bench and generated
#                     code left out)
#   html/index.html   the genhtml report
#   summary.txt       line coverage per folder (the gated ones first) and the worst files
# The host and fake Hightouch the process tests start write their counters when they exit
# normally (the tests stop them with SIGTERM; a process killed with SIGKILL writes nothing).
#
# Environment: JOBS (default 2), BUILD_DIR (default build-coverage), GATE (a percentage:
# fail when a gated folder is below it; default 0, report only).
# Exits non-zero when a test fails or a gated folder is below GATE.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=${BUILD_DIR:-build-coverage}
jobs=${JOBS:-2}
gate=${GATE:-0}
gated_folders=(plugin host/delivery host/store host/api host/http)
other_folders=(host/loader host/daemon host/auth host/crypto host/metrics tools)

scripts/install-deps.sh
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNAL_COVERAGE=ON \
  -DSIGNAL_SANITIZE= -DSIGNAL_BUILD_BENCHMARKS=OFF
cmake --build "$build_dir" -j"$jobs"

out="$build_dir/coverage"
rm -rf "$out"
mkdir -p "$out"
# Counters from an earlier run would add up with this one's.
find "$build_dir" -name '*.gcda' -delete

status=0
ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 600 || status=1

# Debian's lcov 1.16 warns about its own Perl on every call: keep its messages in a log,
# shown only when it fails.
lcov_log="$out/lcov.log"
run_lcov() { "$@" 2>>"$lcov_log" || { cat "$lcov_log" >&2; exit 1; }; }
run_lcov lcov --quiet --capture --directory "$build_dir" --output-file "$out/all.info"
run_lcov lcov --quiet --extract "$out/all.info" "$root/plugin/*" "$root/host/*" "$root/tools/*" \
  --output-file "$out/coverage.info"
run_lcov genhtml --quiet --title "signal-hightouch" --prefix "$root" \
  --output-directory "$out/html" "$out/coverage.info"

# Per file "path lines_hit lines_found", relative to the source tree.
awk -v root="$root/" '
  /^SF:/ { file = substr($0, 4); sub("^" root, "", file) }
  /^LF:/ { found = substr($0, 4) }
  /^LH:/ { hit = substr($0, 4) }
  /^end_of_record/ { print file, hit, found }' "$out/coverage.info" >"$out/files.txt"

{
  echo "Line coverage by the C++ suites ($(date -u +%Y-%m-%d), $(git rev-parse --short HEAD))"
  printf '%-16s %8s %8s %8s\n' folder covered lines percent
  below=0
  for folder in "${gated_folders[@]}" - "${other_folders[@]}"; do
    if [[ "$folder" == - ]]; then
      echo "(not gated)"
      continue
    fi
    read -r hit found < <(awk -v prefix="$folder/" '
      index($1, prefix) == 1 { hit += $2; found += $3 }
      END { print hit + 0, found + 0 }' "$out/files.txt")
    percent=$(awk -v h="$hit" -v f="$found" 'BEGIN { printf "%.1f", f ? 100 * h / f : 0 }')
    printf '%-16s %8d %8d %7s%%\n' "$folder" "$hit" "$found" "$percent"
    for gated in "${gated_folders[@]}"; do
      if [[ "$folder" == "$gated" ]] &&
        awk -v p="$percent" -v g="$gate" 'BEGIN { exit !(p < g) }'; then
        below=1
      fi
    done
  done
  echo
  echo "The 10 gated files with the most uncovered lines:"
  printf '%-48s %9s %8s\n' file uncovered percent
  pattern=$(printf '%s/|' "${gated_folders[@]}")
  awk -v pattern="^(${pattern%|})" '$1 ~ pattern {
      printf "%-48s %9d %7.1f%%\n", $1, $3 - $2, $3 ? 100 * $2 / $3 : 0 }' "$out/files.txt" |
    sort -k2,2nr | head -10
  echo "$below" >"$out/below_gate"
} | tee "$out/summary.txt"

echo "Report: $out/html/index.html"
if [[ $(cat "$out/below_gate") -ne 0 ]]; then
  echo "coverage.sh: a gated folder is below ${gate}%" >&2
  status=1
fi
exit $status
