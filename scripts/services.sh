#!/usr/bin/env bash
# The servers the tests and benchmarks run against, each on a private port and data directory:
# PostgreSQL (scale-out store) and nats-server with JetStream (the task and label queues).
#   scripts/services.sh start DIR [pg|nats]   starts both (or one), writes DIR/env (source it), prints it
#   scripts/services.sh stop DIR [pg|nats]    stops both (or one)
# Ports: TESSERA_PG_PORT (54329), TESSERA_NATS_PORT (42229).
# Binaries: PostgreSQL from PATH or /usr/lib/postgresql/*/bin (Debian's postgresql package),
# nats-server from PATH (Debian's nats-server package). PostgreSQL will not run as root: as
# root, its data directory belongs to the `postgres` user and it runs as that user.
set -euo pipefail
cmd="${1:?usage: services.sh start|stop DIR [pg|nats]}"
dir="$(mkdir -p "${2:?usage: services.sh start|stop DIR [pg|nats]}" && cd "$2" && pwd)"
which="${3:-all}"
pg_port="${TESSERA_PG_PORT:-54329}"
nats_port="${TESSERA_NATS_PORT:-42229}"

pg_bin() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(readlink -f "$(command -v initdb)")"; return; fi
  local d; d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$d" ] || { echo "error: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
  echo "$d"
}
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
  start)
    bin="$(pg_bin)"
    : > "$dir/env"
    if [ "$which" != nats ]; then
    if [ ! -f "$dir/pg/PG_VERSION" ]; then
      mkdir -p "$dir/pg"
      [ "$(id -u)" = 0 ] && chown postgres "$dir" "$dir/pg"
      as_pg "$bin/initdb" -D "$dir/pg" -U postgres --auth=trust >/dev/null
    fi
    # The same durability as production (fsync, synchronous_commit on); enough connections for
    # three nodes' pools and pgbench's 64 clients.
    as_pg "$bin/pg_ctl" -D "$dir/pg" -l "$dir/pg.log" -w -t 60 \
      -o "-p $pg_port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on" start >/dev/null
    echo "export TESSERA_TEST_PG=postgres://postgres@127.0.0.1:$pg_port/postgres" >> "$dir/env"
    echo "export TESSERA_PG_BIN=$bin" >> "$dir/env"
    fi
    if [ "$which" != pg ]; then
    command -v nats-server >/dev/null || { echo "error: nats-server is not installed (apt-get install nats-server)" >&2; exit 1; }
    mkdir -p "$dir/nats"
    nats-server -js -p "$nats_port" -a 127.0.0.1 -sd "$dir/nats" -l "$dir/nats.log" < /dev/null > /dev/null 2>&1 &
    echo $! > "$dir/nats.pid"
    for _ in $(seq 100); do (echo > "/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.1; done
    echo "export TESSERA_TEST_NATS=nats://127.0.0.1:$nats_port" >> "$dir/env"
    fi
    cat "$dir/env"
    ;;
  stop)
    if [ "$which" != nats ] && [ -f "$dir/pg/postmaster.pid" ]; then
      as_pg "$(pg_bin)/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null || true
    fi
    if [ "$which" != pg ] && [ -f "$dir/nats.pid" ]; then
      kill "$(cat "$dir/nats.pid")" 2>/dev/null || true
      rm -f "$dir/nats.pid"
    fi
    ;;
  *) echo "usage: services.sh start|stop DIR" >&2; exit 2 ;;
esac
