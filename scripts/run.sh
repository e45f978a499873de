#!/usr/bin/env bash
# The main command: builds everything into build/, starts a sandbox Hightouch (the fake,
# on a free port) and signal-delivery-host wired to it, then prints what to do next: the
# Management UI address, an editor token, the product page's install curl and a curl
# that sends a test event.
#
#   scripts/run.sh                 build, start, print, keep running (Ctrl-C stops both)
#   scripts/run.sh --demo          ... and also install with the product page's curl, send a
#                                  test event and wait until Live Events shows it delivered
#   scripts/run.sh --demo --exit   ... then stop and exit (0 on success)
#
# Environment: BUILD_DIR (build), DATA_DIR (<build dir>/signal-data), ADMIN_PORT (8084),
# EVENTS_PORT (8080), JOBS (2), SKIP_BUILD=1 to use what is built.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=0
exit_after=0
for arg in "$@"; do
  case "$arg" in
    --demo) demo=1 ;;
    --exit) exit_after=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

build_dir=${BUILD_DIR:-build}
data_dir=${DATA_DIR:-$build_dir/signal-data}
admin_port=${ADMIN_PORT:-8084}
events_port=${EVENTS_PORT:-8080}
key=xxxxxxxxxxxxxxxxxxxx

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  scripts/install-deps.sh
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
  cmake --build "$build_dir" -j"${JOBS:-2}"
fi

host_bin="$build_dir/host/daemon/signal-delivery-host"
fake_bin="$build_dir/tests/fake_hightouch/fake-hightouch"
for bin in "$host_bin" "$fake_bin"; do
  [[ -x "$bin" ]] || { echo "run.sh: $bin is missing; build first" >&2; exit 1; }
done

work=$(mktemp -d)
fake_pid=""
host_pid=""
cleanup() {
  trap - EXIT INT TERM
  set +e
  [[ -n "$host_pid" ]] && kill -TERM "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null
  [[ -n "$fake_pid" ]] && kill -TERM "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "Stopping."; exit 0' INT TERM

# Waits until file $1 has a line matching $2 (or the process $3 died); prints the line.
wait_for_line() {
  local file=$1 pattern=$2 pid=$3
  for _ in $(seq 1 300); do
    if grep -m1 -E "$pattern" "$file" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The sandbox Hightouch: the product page's credentials are valid there, and workspace
# "ws-12345" normalises to 12345, the workspace of source src-12345.
"$fake_bin" --port 0 --write-key "$key" --api-key "$key" --source src-12345:12345 \
  >"$work/fake.out" 2>"$work/fake.err" &
fake_pid=$!
fake_line=$(wait_for_line "$work/fake.out" '^listening on ' "$fake_pid") || {
  echo "run.sh: fake-hightouch did not start:" >&2; cat "$work/fake.err" >&2; exit 1; }
fake_url=${fake_line#listening on }

"$host_bin" --data-dir "$data_dir" --admin-port "$admin_port" --events-port "$events_port" \
  --plugin-option "hightouch.events_base_url=$fake_url" \
  --plugin-option "hightouch.api_base_url=$fake_url" \
  >"$work/host.out" 2>"$build_dir/signal-delivery-host.log" &
host_pid=$!
if ! wait_for_line "$work/host.out" '^pipeline default key: ' "$host_pid" >/dev/null; then
  echo "run.sh: signal-delivery-host did not start (ports $admin_port/$events_port free?):" >&2
  tail -20 "$build_dir/signal-delivery-host.log" >&2
  exit 1
fi
admin_url=$(grep -m1 '^admin listening on ' "$work/host.out"); admin_url=${admin_url#admin listening on }
events_url=$(grep -m1 '^events listening on ' "$work/host.out"); events_url=${events_url#events listening on }
pipeline_key=$(grep -m1 '^pipeline default key: ' "$work/host.out"); pipeline_key=${pipeline_key#pipeline default key: }
token=$("$host_bin" token --role editor --data-dir "$data_dir" --ttl 86400)

install_body='{
    "name": "Hightouch",
    "variant": "default",
    "config": {
      "api_key": "xxxxxxxxxxxxxxxxxxxx",
      "workspace_id": "ws-12345",
      "source_id": "src-12345"
    },
    "delivery_mode": "server_side"
  }'

cat <<EOF

signal-delivery-host is running (log: $build_dir/signal-delivery-host.log)
  Sandbox Hightouch (fake):  $fake_url
  Management UI:             $admin_url/
  Editor token (24 h):       $token

Install Hightouch with the product page's curl:

curl -X POST $admin_url/v1/admin/integration-catalog/hightouch/install \\
  -H "Authorization: Bearer $token" \\
  -H "Content-Type: application/json" \\
  -d '$install_body'

Send a test event to the event API:

curl -X POST $events_url/v1/t \\
  -H "Authorization: Bearer $pipeline_key" \\
  -H "Content-Type: application/json" \\
  -d '{"event":"Signed Up","anonymousId":"anon-1","properties":{"plan":"pro"}}'

Then open Live Events in the UI (or GET $admin_url/v1/admin/live-events).
EOF

if [[ $demo == 1 ]]; then
  echo
  echo "== Demo: installing with the product page's curl"
  status=$(curl -s -o "$work/install.json" -w '%{http_code}' -X POST \
    "$admin_url/v1/admin/integration-catalog/hightouch/install" \
    -H "Authorization: Bearer $token" -H "Content-Type: application/json" -d "$install_body")
  if [[ $status == 201 ]]; then
    echo "201 Created: $(grep -o '"id":"tmpl_[^"]*"' "$work/install.json" | head -1)"
  elif [[ $status == 409 ]]; then
    echo "409: already installed in $data_dir (kept from an earlier run)"
  else
    echo "run.sh: install answered $status: $(cat "$work/install.json")" >&2
    exit 1
  fi

  message_id=$(cat /proc/sys/kernel/random/uuid)
  echo "== Demo: sending a test event (messageId $message_id)"
  curl -s -X POST "$events_url/v1/t" -H "Authorization: Bearer $pipeline_key" \
    -H "Content-Type: application/json" \
    -d "{\"messageId\":\"$message_id\",\"event\":\"Signed Up\",\"anonymousId\":\"anon-1\",\"properties\":{\"plan\":\"pro\"}}"
  echo
  echo "== Demo: waiting for Live Events to show it delivered"
  row=""
  for _ in $(seq 1 600); do
    curl -s -o "$work/live.json" \
      "$admin_url/v1/admin/live-events?message_id=$message_id&outcome=delivered" \
      -H "Authorization: Bearer $token" || true
    if grep -q '"http_status":200' "$work/live.json" 2>/dev/null; then
      row=$(cat "$work/live.json")
      break
    fi
    kill -0 "$host_pid" 2>/dev/null || { echo "run.sh: the host exited" >&2; exit 1; }
    sleep 0.1
  done
  if [[ -z "$row" ]]; then
    echo "run.sh: the event was not delivered within 60 s; see $build_dir/signal-delivery-host.log" >&2
    exit 1
  fi
  echo "Delivered with status 200. Live Events row:"
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["data"][0], indent=2))' \
      <"$work/live.json"
  else
    echo "$row"
  fi
  if [[ $exit_after == 1 ]]; then
    echo "== Demo: done"
    exit 0
  fi
fi

echo
echo "Press Ctrl-C to stop both processes."
wait "$host_pid"
