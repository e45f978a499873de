#!/usr/bin/env bash
# A throwaway PostgreSQL cluster from Debian's `postgresql` package, for the scale-out
# demo and benchmarks: initdb into a directory, start it on a loopback port, stop and
# remove it. (The C++ tests start their own: tests/postgres/postgres_server.h.)
#
#   scripts/throwaway-postgres.sh start DIR [PORT]   prints DATABASE_URL=postgresql://...
#   scripts/throwaway-postgres.sh stop DIR           stops the server and removes DIR
#
# initdb refuses to run as root; as root the server runs as the package's `postgres`
# user, in a directory of its own under /tmp whose name DIR/cluster records.
set -euo pipefail

bin_dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n "$bin_dir" && -x "$bin_dir/initdb" ]] || {
  echo "throwaway-postgres.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2
  exit 1
}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

case "${1:-}" in
  start)
    dir=${2:?usage: start DIR [PORT]}
    port=${3:-$(free_port)}
    mkdir -p "$dir"
    cluster=$(as_owner mktemp -d /tmp/signal-pg.XXXXXX)
    echo "$cluster" >"$dir/cluster"
    as_owner "$bin_dir/initdb" -D "$cluster/data" -U signal --auth=trust -E UTF8 --no-sync \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin_dir/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 30 start \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$cluster' \
          -c fsync=off -c max_connections=200" >/dev/null ||
      { cat "$cluster/server.log" >&2; exit 1; }
    as_owner "$bin_dir/createdb" -h 127.0.0.1 -p "$port" -U signal signal
    echo "DATABASE_URL=postgresql://signal@127.0.0.1:$port/signal"
    ;;
  stop)
    dir=${2:?usage: stop DIR}
    if [[ -f "$dir/cluster" ]]; then
      cluster=$(cat "$dir/cluster")
      if [[ -d "$cluster/data" ]]; then
        as_owner "$bin_dir/pg_ctl" -D "$cluster/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
      fi
      [[ "$cluster" == /tmp/signal-pg.* ]] && rm -rf "$cluster"
    fi
    rm -rf "$dir"
    ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
