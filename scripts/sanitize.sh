#!/usr/bin/env bash
# The sanitizer runs CI makes, one mode per call:
#   scripts/sanitize.sh asan   AddressSanitizer + UndefinedBehaviorSanitizer (LeakSanitizer
#                              included) over every CTest test (or those chosen below),
#                              built in build-asan/
#   scripts/sanitize.sh tsan   ThreadSanitizer likewise, built in build-tsan/, with
#                              tests/tsan.supp (why each entry: see that file)
# Builds first (ccache makes a rebuild cheap), then runs the tests. Exits non-zero on any
# failed test and on any sanitizer report:
# - ASan, LSan and TSan write every report to a file under <build dir>/sanitizer-reports,
#   also for the host and fake Hightouch processes the tests start (their stderr files are
#   deleted with the test's directory); the files are printed at the end, and a report that
#   no test noticed still fails the run.
# - UBSan (gcc's libubsan ignores log_path) prints to stderr and, with halt_on_error, ends
#   the process with a failing exit code; the process tests fail when a child does not exit
#   cleanly and show the end of its stderr.
#
# Environment:
#   JOBS      compile and test jobs (default 2)
#   BUILD_DIR instead of build-asan / build-tsan
#   REPEAT    how many times to run the tests (default 1), to catch flaky failures
#   TESTS     only the tests whose name matches this regex (ctest -R)
#   LABELS    only the tests with a label matching this regex (ctest -L); every GoogleTest
#             test is labelled with its executable's name (tests/CMakeLists.txt)
#   EXCLUDE   leave out the tests whose name matches this regex (ctest -E)
#   SUBSET    "threads": only the executables whose code runs on several threads (the
#             store, the sender, the delivery engine, the HTTP server and listeners, the
#             loader's gRPC servers, the process tests that run the whole host); the list
#             is threads_labels below. Sets LABELS, so do not set both.
# The filters combine: a test runs when it passes every one that is set.
#
# CI runs:  scripts/sanitize.sh asan   and   SUBSET=threads scripts/sanitize.sh tsan
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=${1:-}
jobs=${JOBS:-2}
repeat=${REPEAT:-1}

case "$mode" in
  asan) sanitizers=address,undefined ;;
  tsan) sanitizers=thread ;;
  *)
    echo "usage: scripts/sanitize.sh asan|tsan" >&2
    exit 2
    ;;
esac
build_dir=${BUILD_DIR:-build-$mode}

# The TSan subset: every test of these executables (labels: tests/CMakeLists.txt).
threads_labels='^(store_test|sender_test|token_bucket_test|metrics_test|delivery_(engine|failure|parts|readiness)_test|http_server_test|loader_test|api_(hardening|events)_test|daemon_process_test|postgres)$'
build_targets=()  # empty: everything
case "${SUBSET:-}" in
  "") ;;
  threads)
    if [[ -n "${LABELS:-}" ]]; then
      echo "SUBSET sets LABELS; set one of them" >&2
      exit 2
    fi
    LABELS=$threads_labels
    # Build only these executables (and what they run: the host, the plugin, the fake),
    # not the whole tree: a cold TSan build of everything is most of CI's budget.
    build_targets=(store_test sender_test token_bucket_test metrics_test delivery_engine_test
                   delivery_failure_test delivery_parts_test delivery_readiness_test
                   http_server_test loader_test api_hardening_test api_events_test
                   daemon_process_test pg_connection_test pg_migrations_test
                   postgres_attempt_log_test postgres_config_store_test
                   postgres_dead_letters_test postgres_two_hosts_test)
    ;;
  *)
    echo "unknown SUBSET \"$SUBSET\" (known: threads)" >&2
    exit 2
    ;;
esac

scripts/install-deps.sh
# Let ccache reuse objects across checkouts of the repo (CI builds a fresh clone).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

# Benchmarks are not run here; building them would only cost time.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSIGNAL_SANITIZE="$sanitizers" -DSIGNAL_BUILD_BENCHMARKS=OFF
started=$SECONDS
cmake --build "$build_dir" -j"$jobs" ${build_targets[@]+--target "${build_targets[@]}"}
echo "== $mode build took $((SECONDS - started)) s"

reports="$(cd "$build_dir" && pwd)/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"
# halt_on_error: the first report ends the process with a failing exit code (UBSan would
# otherwise print and carry on, and the test would pass).
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:strict_init_order=1:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$root/tests/tsan.supp:log_path=$reports/tsan"

ctest_args=(--test-dir "$build_dir" --output-on-failure -j"$jobs" --timeout 600)
[[ -n "${TESTS:-}" ]] && ctest_args+=(-R "$TESTS")
[[ -n "${LABELS:-}" ]] && ctest_args+=(-L "$LABELS")
[[ -n "${EXCLUDE:-}" ]] && ctest_args+=(-E "$EXCLUDE")
status=0
for ((run = 1; run <= repeat; run++)); do
  echo "== $mode run $run of $repeat"
  started=$SECONDS
  ctest "${ctest_args[@]}" || status=1
  echo "== $mode run $run: tests took $((SECONDS - started)) s"
done

shopt -s nullglob
found=("$reports"/*)
if [[ ${#found[@]} -gt 0 ]]; then
  echo "== ${#found[@]} sanitizer report file(s):"
  for file in "${found[@]}"; do
    echo "---- $file"
    cat "$file"
  done
  status=1
fi
if [[ $status -ne 0 ]]; then
  echo "sanitize.sh $mode: FAILED" >&2
else
  echo "sanitize.sh $mode: clean"
fi
exit $status
