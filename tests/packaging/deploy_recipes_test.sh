#!/usr/bin/env bash
# deploy/ stays consistent with the package and the host: the Kubernetes files lint; every
# absolute path the recipes name is in the package (or made by its postinst); every flag
# and environment variable is one the installed host documents; the ports match the
# config; the pod's config file loads in the installed host; the probe paths answer 200.
# Usage: deploy_recipes_test.sh STATE SOURCE_DIR VERSION
source "$(dirname "$0")/lib.sh"
work=$(packaging_work_dir "$1")
source_dir=$2
version=$3
root=$work/root
deploy=$source_dir/deploy
dockerfile=$deploy/container/Dockerfile
k8s=$deploy/kubernetes
host=$root/usr/bin/signal-delivery-host
help=$("$host" --help)
run=$(mktemp -d "$work/deploy.XXXXXX")
trap stop_background EXIT

yamllint --strict -c "$k8s/.yamllint" "$k8s" || fail "yamllint"

# Paths. The base system's own (the nologin shell, apt's lists) are not the package's.
postinst=$(dpkg-deb --ctrl-tarfile "$work/debs/signal-delivery-host_${version}_amd64.deb" | tar -xO ./postinst)
paths=$(grep -ohE '(^|[ "=:,\[])/(usr|etc|var)/[A-Za-z0-9._/*-]*' "$dockerfile" "$k8s"/*.yaml \
  "$k8s"/scale-out/*.yaml |
  sed -E 's/^[ "=:,[]//; s#/$##' | grep -vE '^/usr/sbin/nologin$|^/var/lib/apt/' | sort -u)
[[ -n "$paths" ]] || fail "found no paths to check"
for path in $paths; do
  # shellcheck disable=SC2086 # a glob (the .deb's version) is meant to expand
  if compgen -G "$root$path" >/dev/null; then continue; fi
  if [[ $path == *.deb ]] && compgen -G "$work/debs/$(basename "$path")" >/dev/null; then continue; fi
  grep -q "=$path\$" <<<"$postinst" || fail "$path is named in deploy/ but not in the package"
done
echo "paths: $(wc -w <<<"$paths") checked"

# Flags of the container's command line, and environment variables.
flags=$(grep -E '^(ENTRYPOINT|CMD)' "$dockerfile" | grep -oE -- '--[a-z-]+' | sort -u)
for flag in $flags; do
  grep -qE -- "(^| )$flag( |$)" <<<"$help" || fail "the Dockerfile passes $flag, which the host lacks"
done
variables=$( (grep -ohE -- '-e [A-Z_]+=' "$dockerfile" | sed 's/-e //; s/=//'
              grep -ohE '^ *- name: [A-Z_]+$' "$k8s/deployment.yaml" "$k8s/scale-out/deployment.yaml" |
                awk '{print $3}') | sort -u)
for variable in $variables; do
  grep -qE "^  $variable( |$)" <<<"$help" || fail "deploy/ sets $variable, which the host does not read"
done
echo "flags: $flags; environment: $variables"

# The config file the pod mounts is the one the image's command line names.
config_path=$(grep '^ENTRYPOINT' "$dockerfile" | grep -oE -- '"--config", "[^"]+"' | cut -d'"' -f4)
grep -qE "^ +mountPath: $(dirname "$config_path")$" "$k8s/deployment.yaml" ||
  fail "the pod does not mount its config at $(dirname "$config_path")"
grep -qE "^ +- $(basename "$config_path")$" "$k8s/kustomization.yaml" ||
  fail "the ConfigMap does not hold $(basename "$config_path")"

# Ports: the config's, the image's and the pod's agree.
config_file=$k8s/signal-delivery-host.yaml
admin_port=$(awk '/^admin:/{s=1} s && /port:/{print $2; exit}' "$config_file")
events_port=$(awk '/^events:/{s=1} s && /^  port:/{print $2; exit}' "$config_file")
for port in "$admin_port" "$events_port"; do
  grep -qE "^EXPOSE .*\\b$port\\b" "$dockerfile" || fail "the image does not expose $port"
  grep -qE "containerPort: $port$" "$k8s/deployment.yaml" || fail "the pod does not open $port"
done
grep -qE "image: signal-delivery-host:$version$" "$k8s/deployment.yaml" ||
  fail "the Deployment's image tag is not the package version $version"

# The pod's settings load in the installed host (flags move it to loopback and free ports).
start_installed_host "$root" "$run/data" --config "$config_file" --bind 127.0.0.1
mapfile -t probes < <(grep -A2 -E 'readinessProbe|livenessProbe' "$k8s/deployment.yaml" |
                      sed -n 's/^ *path: //p')
[[ ${#probes[@]} == 2 ]] || fail "expected a readiness and a liveness path, found: ${probes[*]}"
for probe in "${probes[@]}"; do
  status=$(http_status "$run/probe.json" "$admin_url$probe")
  [[ $status == 200 ]] || fail "probe $probe answered $status: $(cat "$run/probe.json")"
  echo "probe $probe: 200"
done

# The scale-out example's settings load (the host gets as far as its database, which is not
# there), and its command lines are ones the host knows.
scale_out=$k8s/scale-out
grep -qE "^ +- $(basename "$config_path")$" "$scale_out/kustomization.yaml" ||
  fail "the scale-out ConfigMap does not hold $(basename "$config_path")"
grep -qE "^ +mountPath: $(dirname "$config_path")$" "$scale_out/deployment.yaml" ||
  fail "the scale-out pod does not mount its config at $(dirname "$config_path")"
grep -qE "image: signal-delivery-host:$version$" "$scale_out/deployment.yaml" ||
  fail "the scale-out image tag is not the package version $version"
subcommand=$(grep -oE 'command: \[/usr/bin/signal-delivery-host, [a-z]+\]' "$scale_out/deployment.yaml" |
  sed -E 's/.*, ([a-z]+)\]/\1/')
[[ $subcommand == migrate ]] || fail "the scale-out init container does not run migrate"
grep -qE "signal-delivery-host $subcommand " <<<"$help" || fail "the host has no $subcommand command"
set +e
JWT_SECRET=$(printf 'j%.0s' {1..40}) ENCRYPTION_KEY=$(printf '0%.0s' {1..64}) \
  SIGNAL_PIPELINE_KEY=dk_deploy_test KAFKA_BROKERS=127.0.0.1:1 \
  DATABASE_URL=postgresql://signal@127.0.0.1:1/signal \
  timeout 60 "$host" --config "$scale_out/signal-delivery-host.yaml" --data-dir "$run/scale-out" \
  --admin-port 0 --events-port 0 --bind 127.0.0.1 >"$run/scale-out.out" 2>"$run/scale-out.log"
code=$?
set -e
[[ $code == 1 ]] || fail "the scale-out config: expected exit 1 (no database), got $code"
if ! grep -q "127.0.0.1" "$run/scale-out.log" || grep -q "unknown setting" "$run/scale-out.log"; then
  fail "the scale-out config did not load: $(tail -3 "$run/scale-out.log")"
fi
echo "scale-out: settings load; stops at the missing database as expected"
