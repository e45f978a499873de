#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, clang, ASan + UBSan) in build-fuzz and runs each
# for a while on its committed corpus and regressions plus a scratch corpus.
# Usage: scripts/fuzz.sh [seconds-per-target] [target...]
#   seconds   default 60; targets default to every fuzz/<target>_fuzzer.cc
# Environment: FUZZ_JOBS=2 runs two targets at once; FUZZ_NICE (default 10) is the
# niceness; FUZZ_BUILD_DIR (default build-fuzz); FUZZ_BUILD=0 skips the build;
# FUZZ_KEEP_GOING=1 fuzzes on past findings (libFuzzer's fork mode) to collect them all.
# Prints per target the executions, exec/s, final cov/ft, corpus growth and findings, and
# exits non-zero when any target crashed, broke an invariant, timed out or ran out of
# memory (each input is saved under <build dir>/fuzz-artifacts/<target>/).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-60}
shift || true
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-1}
niceness=${FUZZ_NICE:-10}

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=()
  for src in fuzz/*_fuzzer.cc; do
    name=$(basename "$src" _fuzzer.cc)
    targets+=("$name")
  done
fi

# Longest input per target: room for the inputs that matter (a 32 KB event, the catalog,
# an 8 KB token) without slowing every execution down.
max_len_for() {
  case "$1" in
    translate | event_ingest) echo 49152 ;;
    validate_config | catalog) echo 8192 ;;
    classify | admin_install) echo 4096 ;;
    jwt) echo 12288 ;;
    retry_after) echo 64 ;;
    request_target) echo 2048 ;;
    http_request) echo 8192 ;;
    body_decode) echo 65536 ;;
    *) echo 65536 ;;
  esac
}

if [[ ${FUZZ_BUILD:-1} != 0 ]]; then
  export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
  if [[ ! -f $build/CMakeCache.txt ]]; then
    CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DSIGNAL_BUILD_FUZZERS=ON -DSIGNAL_BUILD_BENCHMARKS=OFF >/dev/null
  fi
  build_targets=()
  for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
  nice -n "$niceness" cmake --build "$build" -j2 --target "${build_targets[@]}"
fi

logs=$build/fuzz-logs
mkdir -p "$logs"

run_one() {
  local t=$1
  local exe=$build/fuzz/fuzz_$t
  local scratch=$build/fuzz-corpus/$t
  local artifacts=$build/fuzz-artifacts/$t/
  rm -rf "$artifacts"  # each run reports only its own findings
  mkdir -p "$scratch" "$artifacts"
  # New inputs go to the first directory, the scratch one; the committed ones are read only.
  local inputs=("$scratch" "fuzz/corpus/$t")
  [[ -d fuzz/regressions/$t ]] && inputs+=("fuzz/regressions/$t")
  local options=(-max_total_time="$seconds" -max_len="$(max_len_for "$t")" -timeout=30
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts")
  [[ -f fuzz/dict/$t.dict ]] && options+=(-dict="fuzz/dict/$t.dict")
  if [[ ${FUZZ_KEEP_GOING:-0} != 0 ]]; then
    options+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  local status=0
  nice -n "$niceness" "$exe" "${options[@]}" "${inputs[@]}" >"$logs/$t.log" 2>&1 || status=$?
  echo "$status" >"$logs/$t.status"
}

summary() {
  local t=$1 log=$logs/$1.log status
  status=$(cat "$logs/$t.status" 2>/dev/null || echo missing)
  local runs rate added cov ft corpus findings
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  added=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
  if [[ -z $runs ]]; then  # fork mode: "#<runs>: cov: ... time: <seconds>s ..." lines
    runs=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    local elapsed
    elapsed=$(grep -o 'time: [0-9]*s' "$log" | tail -1 | tr -dc '0-9')
    [[ -n $runs && ${elapsed:-0} -gt 0 ]] && rate=$((runs / elapsed))
  fi
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corpus=$(find "$build/fuzz-corpus/$t" -type f | wc -l)
  findings=$(find "$build/fuzz-artifacts/$t" -type f | wc -l)
  local verdict=ok
  if [[ $status != 0 || $findings != 0 ]]; then
    verdict="FAILED (exit $status, $findings inputs in $build/fuzz-artifacts/$t, log $log)"
  fi
  printf '%-16s %12s %8s %7s %7s %6s %8s  %s\n' "$t" "${runs:--}" "${rate:--}" "${cov:--}" \
    "${ft:--}" "${added:--}" "$corpus" "$verdict"
  [[ $verdict == ok ]]
}

running=0
for t in "${targets[@]}"; do
  echo "fuzzing $t for ${seconds}s (log: $logs/$t.log)"
  run_one "$t" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

printf '\n%-16s %12s %8s %7s %7s %6s %8s\n' target executions exec/s cov ft new scratch
failed=0
for t in "${targets[@]}"; do
  summary "$t" || failed=1
done
if [[ $failed != 0 ]]; then
  echo "fuzzing found problems: reproduce with $build/fuzz/fuzz_<target> <input>" >&2
  grep -h -A3 -E '^==[0-9]+==ERROR|invariant broken|runtime error' "$logs"/*.log >&2 || true
fi
exit "$failed"
