# shellcheck shell=bash
# Helpers for the packaging tests (sourced). make_packages.sh builds the Debian packages
# once and extracts them into <work>/root; the other tests read <work> from the state
# file CTest passes them and run what is in that root, never the build folder.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# The work directory make_packages.sh created, from state file $1.
packaging_work_dir() {
  [[ -s "$1" ]] || fail "no packages: $1 is missing (the packaging_make_packages fixture failed?)"
  cat "$1"
}

# Waits until file $1 has a line matching the ERE $2, or process $3 ends; prints the line.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3
  for _ in $(seq 1 300); do
    if grep -m1 -E "$pattern" "$file" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Processes started by start_background, ended by stop_background (on exit).
background_pids=()
start_background() {
  local out=$1 err=$2
  shift 2
  "$@" >"$out" 2>"$err" &
  background_pids+=($!)
}
stop_background() {
  local pid
  for pid in "${background_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${background_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  background_pids=()
}

# Starts the installed host of root $1 with data dir $2 and extra flags, on free ports;
# sets host_pid, admin_url, events_url, pipeline_key. Its log is $2.log.
start_installed_host() {
  local root=$1 data=$2
  shift 2
  mkdir -p "$data"
  start_background "$data.out" "$data.log" "$root/usr/bin/signal-delivery-host" \
    --data-dir "$data" --admin-port 0 --events-port 0 "$@"
  host_pid=${background_pids[-1]}
  wait_for_line "$data.out" '^pipeline default key: ' "$host_pid" >/dev/null || {
    cat "$data.log" >&2
    fail "the installed host did not start"
  }
  admin_url=$(grep -m1 '^admin listening on ' "$data.out")
  admin_url=${admin_url#admin listening on }
  events_url=$(grep -m1 '^events listening on ' "$data.out")
  events_url=${events_url#events listening on }
  pipeline_key=$(grep -m1 '^pipeline default key: ' "$data.out")
  pipeline_key=${pipeline_key#pipeline default key: }
}

# HTTP status of a request; the body goes to file $1. Usage: http_status FILE curl-args...
http_status() {
  local body=$1
  shift
  curl -s -o "$body" -w '%{http_code}' "$@"
}
