#!/usr/bin/env bash
# The installed host (from the package, run from the extracted root: it finds its plugin
# directory relative to its own binary) loads the installed Hightouch plugin and the
# example webhook plugin built against the installed SDK; both appear in the Integration
# Library; Hightouch is installed with the product page's curl against the sandbox
# (fake-hightouch from its package) and an event is delivered at 200; the webhook is
# installed and the same event reaches a local HTTP endpoint.
# Usage: installed_host_test.sh STATE RECEIVER_BINARY
source "$(dirname "$0")/lib.sh"
work=$(packaging_work_dir "$1")
receiver=$2
root=$work/root
run=$(mktemp -d "$work/run.XXXXXX")
trap stop_background EXIT
key=xxxxxxxxxxxxxxxxxxxx

start_background "$run/fake.out" "$run/fake.err" "$root/usr/bin/fake-hightouch" --port 0 \
  --write-key "$key" --api-key "$key" --source src-12345:12345
fake_url=$(wait_for_line "$run/fake.out" '^listening on ' "${background_pids[-1]}") ||
  fail "fake-hightouch did not start: $(cat "$run/fake.err")"
fake_url=${fake_url#listening on }

start_background "$run/hook.out" "$run/hook.err" "$receiver"
hook_url=$(wait_for_line "$run/hook.out" '^listening on ' "${background_pids[-1]}") ||
  fail "the webhook receiver did not start: $(cat "$run/hook.err")"
hook_url=${hook_url#listening on }

# No --plugin-dir: the default must be the installed one.
start_installed_host "$root" "$run/data" \
  --plugin-option "hightouch.events_base_url=$fake_url" \
  --plugin-option "hightouch.api_base_url=$fake_url"
grep -q "loading plugins from $root/usr/lib/signal/plugins" "$run/data.log" ||
  fail "the host did not default to its installed plugin dir: $(grep 'loading plugins' "$run/data.log")"
token=$("$root/usr/bin/signal-delivery-host" token --role editor --data-dir "$run/data")
auth=(-H "Authorization: Bearer $token" -H "Content-Type: application/json")

status=$(http_status "$run/ready.json" "$admin_url/readyz")
[[ $status == 200 ]] || fail "/readyz answered $status: $(cat "$run/ready.json")"
grep -q '"plugins":2' "$run/ready.json" || fail "not both plugins loaded: $(cat "$run/ready.json")"
status=$(http_status "$run/catalog.json" "${auth[@]}" "$admin_url/v1/admin/integration-catalog")
[[ $status == 200 ]] || fail "catalog answered $status"
for catalog_key in hightouch webhook; do
  grep -q "\"key\":\"$catalog_key\"" "$run/catalog.json" ||
    fail "$catalog_key is not in the Integration Library: $(cat "$run/catalog.json")"
done

# Hightouch, installed with the product page's curl.
status=$(http_status "$run/install.json" -X POST "${auth[@]}" \
  "$admin_url/v1/admin/integration-catalog/hightouch/install" -d '{
    "name": "Hightouch",
    "variant": "default",
    "config": {
      "api_key": "xxxxxxxxxxxxxxxxxxxx",
      "workspace_id": "ws-12345",
      "source_id": "src-12345"
    },
    "delivery_mode": "server_side"
  }')
[[ $status == 201 ]] || fail "installing Hightouch answered $status: $(cat "$run/install.json")"

status=$(http_status "$run/webhook.json" -X POST "${auth[@]}" \
  "$admin_url/v1/admin/integration-catalog/webhook/install" \
  -d "{\"name\":\"Webhook\",\"config\":{\"url\":\"$hook_url/hooks/signal\",\"authorization\":\"Bearer hook-secret\"}}")
[[ $status == 201 ]] || fail "installing the webhook answered $status: $(cat "$run/webhook.json")"

message_id=$(cat /proc/sys/kernel/random/uuid)
status=$(http_status "$run/event.json" -X POST "$events_url/v1/t" \
  -H "Authorization: Bearer $pipeline_key" -H "Content-Type: application/json" \
  -d "{\"messageId\":\"$message_id\",\"event\":\"Signed Up\",\"anonymousId\":\"anon-1\",\"properties\":{\"plan\":\"pro\"}}")
[[ $status == 200 ]] || fail "the event API answered $status: $(cat "$run/event.json")"

# Both integrations report the event delivered with 200 in Live Events.
delivered_to() { grep -q "\"integration_name\":\"$1\"[^}]*\"http_status\":200" "$run/live.json"; }
for _ in $(seq 1 300); do
  curl -s -o "$run/live.json" "${auth[@]}" \
    "$admin_url/v1/admin/live-events?message_id=$message_id&outcome=delivered" || true
  delivered_to Hightouch && delivered_to Webhook && break
  kill -0 "$host_pid" 2>/dev/null || fail "the host exited: $(tail -5 "$run/data.log")"
  sleep 0.1
done
delivered_to Hightouch || fail "Hightouch: not delivered at 200 within 30 s: $(cat "$run/live.json")"
delivered_to Webhook || fail "Webhook: not delivered at 200 within 30 s: $(cat "$run/live.json")"
grep -q "\"messageId\":\"$message_id\"" <(curl -s "$fake_url/_fake/events") ||
  fail "the fake Hightouch did not record the event"
grep -q "^/hooks/signal Bearer hook-secret {\"batch\":\[.*\"messageId\":\"$message_id\"" "$run/hook.out" ||
  fail "the webhook endpoint did not receive the event: $(cat "$run/hook.out")"
echo "delivered $message_id to Hightouch (fake) and the webhook, both at 200"
