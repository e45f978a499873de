#!/usr/bin/env bash
# The scale-out demo on one machine: a Kafka mock cluster (librdkafka's, three brokers
# in one process), a throwaway PostgreSQL, the sandbox Hightouch and TWO
# signal-delivery-host processes in one consumer group, sharing their state. Install on
# one host, send events to the other, watch either deliver.
#
#   scripts/scale-out.sh                 build, start everything, print, keep running
#   scripts/scale-out.sh --demo          ... install on host 1, send 1,000 events to
#                                        host 2, wait until every one is delivered
#   scripts/scale-out.sh --demo --exit   ... then stop everything and exit (0 on success)
#
# Environment: BUILD_DIR (build), JOBS (2), SKIP_BUILD=1 to use what is built,
# ADMIN_PORTS (8084 8184), EVENTS_PORTS (8080 8180).
set -euo pipefail
cd "$(dirname "$0")/.."

demo=0
exit_after=0
for arg in "$@"; do
  case "$arg" in
    --demo) demo=1 ;;
    --exit) exit_after=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scale-out.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

build_dir=${BUILD_DIR:-build}
read -r -a admin_ports <<<"${ADMIN_PORTS:-8084 8184}"
read -r -a events_ports <<<"${EVENTS_PORTS:-8080 8180}"
key=xxxxxxxxxxxxxxxxxxxx

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  scripts/install-deps.sh
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
  cmake --build "$build_dir" -j"${JOBS:-2}" --target signal-delivery-host fake-hightouch \
    signal-kafka-mock signal_hightouch
fi

host_bin="$build_dir/host/daemon/signal-delivery-host"
fake_bin="$build_dir/tests/fake_hightouch/fake-hightouch"
mock_bin="$build_dir/tools/kafka-mock-cluster/signal-kafka-mock"
for bin in "$host_bin" "$fake_bin" "$mock_bin"; do
  [[ -x "$bin" ]] || { echo "scale-out.sh: $bin is missing; build first" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  trap - EXIT INT TERM
  set +e
  # Hosts first (they leave the group and commit), then the services under them.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null && wait "${pids[$i]}" 2>/dev/null
  done
  scripts/throwaway-postgres.sh stop "$work/postgres" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "Stopping."; exit 0' INT TERM

wait_for_line() {  # file pattern pid: prints the first matching line
  local file=$1 pattern=$2 pid=$3
  for _ in $(seq 1 300); do
    if grep -m1 -E "$pattern" "$file" 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

echo "== Kafka mock cluster (3 brokers)"
"$mock_bin" --brokers 3 >"$work/mock.out" 2>"$work/mock.err" &
pids+=($!)
bootstrap=$(wait_for_line "$work/mock.out" '^bootstrap=' "${pids[-1]}") || {
  echo "scale-out.sh: the mock cluster did not start:" >&2; cat "$work/mock.err" >&2; exit 1; }
bootstrap=${bootstrap#bootstrap=}

echo "== PostgreSQL (throwaway cluster)"
database_url=$(scripts/throwaway-postgres.sh start "$work/postgres")
database_url=${database_url#DATABASE_URL=}
"$host_bin" migrate --database-url "$database_url"

echo "== Sandbox Hightouch"
"$fake_bin" --port 0 --write-key "$key" --api-key "$key" --source src-12345:12345 \
  >"$work/fake.out" 2>"$work/fake.err" &
pids+=($!)
fake_url=$(wait_for_line "$work/fake.out" '^listening on ' "${pids[-1]}") || {
  echo "scale-out.sh: fake-hightouch did not start:" >&2; cat "$work/fake.err" >&2; exit 1; }
fake_url=${fake_url#listening on }

# Every host of a deployment shares these (Signal's JWT_SECRET and ENCRYPTION_KEY).
export JWT_SECRET ENCRYPTION_KEY KAFKA_BROKERS=$bootstrap DATABASE_URL=$database_url
JWT_SECRET=$(openssl rand -hex 32)
ENCRYPTION_KEY=$(openssl rand -hex 32)
pipeline_key="dk_demo_$(openssl rand -hex 12)"

admin_urls=()
events_urls=()
for i in 0 1; do
  n=$((i + 1))
  echo "== signal-delivery-host $n"
  "$host_bin" --data-dir "$work/host$n" --admin-port "${admin_ports[$i]}" \
    --events-port "${events_ports[$i]}" --queue kafka --kafka-group signal-demo \
    --pipeline-key "$pipeline_key" \
    --plugin-option "hightouch.events_base_url=$fake_url" \
    --plugin-option "hightouch.api_base_url=$fake_url" \
    >"$work/host$n.out" 2>"$build_dir/signal-delivery-host-$n.log" &
  pids+=($!)
  if ! wait_for_line "$work/host$n.out" '^pipeline default key: ' "${pids[-1]}" >/dev/null; then
    echo "scale-out.sh: host $n did not start:" >&2
    tail -20 "$build_dir/signal-delivery-host-$n.log" >&2
    exit 1
  fi
  url=$(grep -m1 '^admin listening on ' "$work/host$n.out"); admin_urls+=("${url#admin listening on }")
  url=$(grep -m1 '^events listening on ' "$work/host$n.out"); events_urls+=("${url#events listening on }")
done
token=$("$host_bin" token --role editor --data-dir "$work/host1" --ttl 86400)

install_body='{"name":"Hightouch","variant":"default","config":{"api_key":"xxxxxxxxxxxxxxxxxxxx","workspace_id":"ws-12345","source_id":"src-12345"},"delivery_mode":"server_side"}'

cat <<EOF

Scale-out demo running (logs: $build_dir/signal-delivery-host-{1,2}.log)
  Kafka (mock) bootstrap:  $bootstrap
  DATABASE_URL:            $database_url
  Sandbox Hightouch:       $fake_url
  Host 1:  admin ${admin_urls[0]}/   events ${events_urls[0]}
  Host 2:  admin ${admin_urls[1]}/   events ${events_urls[1]}
  Editor token (either host, 24 h): $token
  Pipeline key (either host):       $pipeline_key

Install on host 1; it is live on host 2 within seconds:
  curl -X POST ${admin_urls[0]}/v1/admin/integration-catalog/hightouch/install \\
    -H "Authorization: Bearer $token" -H "Content-Type: application/json" -d '$install_body'
Send an event to host 2 (it goes to Kafka; whichever host owns the partition delivers):
  curl -X POST ${events_urls[1]}/v1/t -H "Authorization: Bearer $pipeline_key" \\
    -H "Content-Type: application/json" -d '{"event":"Signed Up","anonymousId":"anon-1"}'
EOF

if [[ $demo == 1 ]]; then
  echo
  echo "== Demo: install on host 1"
  status=$(curl -s -o "$work/install.json" -w '%{http_code}' -X POST \
    "${admin_urls[0]}/v1/admin/integration-catalog/hightouch/install" \
    -H "Authorization: Bearer $token" -H "Content-Type: application/json" -d "$install_body")
  [[ $status == 201 ]] || { echo "install answered $status: $(cat "$work/install.json")" >&2; exit 1; }
  id=$(grep -o '"id":"tmpl_[^"]*"' "$work/install.json" | head -1 | cut -d'"' -f4)
  echo "201 Created: $id"
  echo "== Demo: host 2 sees it"
  for _ in $(seq 1 100); do
    curl -sf "${admin_urls[1]}/v1/admin/integrations/$id" -H "Authorization: Bearer $token" \
      -o /dev/null && break
    sleep 0.1
  done
  curl -sf "${admin_urls[1]}/v1/admin/integrations/$id" -H "Authorization: Bearer $token" \
    -o /dev/null || { echo "host 2 does not see $id" >&2; exit 1; }
  echo "yes"
  echo "== Demo: 1,000 events to host 2's event API (10 batches of 100)"
  for b in $(seq 1 10); do
    body='{"batch":['
    for e in $(seq 1 100); do
      [[ $e -gt 1 ]] && body+=','
      body+="{\"type\":\"track\",\"event\":\"Demo\",\"messageId\":\"demo-$b-$e\",\"userId\":\"user-$e\"}"
    done
    body+=']}'
    curl -sf -X POST "${events_urls[1]}/v1/batch" -H "Authorization: Bearer $pipeline_key" \
      -H "Content-Type: application/json" -d "$body" >/dev/null ||
      { echo "the event API refused batch $b" >&2; exit 1; }
  done
  echo "== Demo: waiting until the sandbox has all 1,000"
  delivered=0
  for _ in $(seq 1 600); do
    stats=$(curl -s "$fake_url/_fake/stats")
    accepted=$(grep -o '"events_accepted":[0-9]*' <<<"$stats" | cut -d: -f2)
    duplicates=$(grep -o '"duplicate_message_ids":[0-9]*' <<<"$stats" | cut -d: -f2)
    delivered=$((${accepted:-0} - ${duplicates:-0}))
    [[ "$delivered" -ge 1000 ]] && break
    sleep 0.1
  done
  echo "delivered: $delivered distinct messageIds (duplicates: ${duplicates:-0})"
  [[ "$delivered" -ge 1000 ]] || { echo "not every event was delivered within 60 s" >&2; exit 1; }
  if [[ $exit_after == 1 ]]; then
    echo "== Demo: done"
    exit 0
  fi
fi

echo
echo "Press Ctrl-C to stop everything."
wait "${pids[-1]}"
