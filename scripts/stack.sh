#!/usr/bin/env bash
# The local stack: a private Postgres cluster and stripe-mock under a data
# folder, installed when missing. Used by `make run` and `make test`.
#
#   scripts/stack.sh deps                 install postgresql and stripe-mock if missing
#   scripts/stack.sh pg-start DIR         start (initdb if new) a cluster in DIR; prints its URL
#   scripts/stack.sh pg-stop DIR
#   scripts/stack.sh pg-standby-start PRIMARY_DIR DIR
#                                         start a streaming standby of the cluster in PRIMARY_DIR in DIR
#                                         (pg_basebackup when new) and make it synchronous; prints its URL
#   scripts/stack.sh pg-promote DIR       promote the standby in DIR once its primary is gone: it takes
#                                         writes, and waits for no standby of its own
#   scripts/stack.sh pg-checkpoint DIR    write every dirty page of the cluster in DIR now (CHECKPOINT), so
#                                         that what a benchmark measures next does not share the disk with it
#   scripts/stack.sh mock-start DIR       start stripe-mock; prints its base URL
#   scripts/stack.sh mock-stop DIR
set -euo pipefail

STRIPE_MOCK_VERSION=v0.203.0

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(command -v pg_ctl)"; return; }
  return 1
}

gobin() { echo "$(go env GOPATH)/bin"; }

deps() {
  local missing=()
  pg_bin >/dev/null || missing+=(postgresql)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)   # the billing page's browser tests
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages)..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${missing[@]}" >&2
  fi
  if [ ! -x "$(gobin)/stripe-mock" ]; then
    echo "installing stripe-mock $STRIPE_MOCK_VERSION..." >&2
    go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION" >&2
  fi
}

# as_pg runs a command as an unprivileged user: Postgres refuses root.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port found" >&2; return 1
}

pg_start() {
  local dir; dir=$(realpath -m "$1"); mkdir -p "$dir"
  local bin; bin=$(pg_bin) || { echo "postgresql is not installed: run scripts/stack.sh deps" >&2; exit 1; }
  local data="$dir/pgdata"
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  if [ ! -s "$data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  if [ -f "$dir/port" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"; return
  fi
  start_cluster "$dir" "$bin" ""
}

# start_cluster starts the cluster in DIR/pgdata with extra server options,
# on the same port as last time when it is free (so URLs survive a
# restart; a port another process took meanwhile means another try), and
# prints its URL.
start_cluster() {
  local dir=$1 bin=$2 extra=$3 data="$1/pgdata"
  local port; port=$(cat "$dir/port" 2>/dev/null || true)
  local started=""
  for _ in 1 2 3; do
    if [ -z "$port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then port=$(free_port); fi
    if as_pg "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 start \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=${PG_FSYNC:-on} -c shared_buffers=128MB $extra" >/dev/null; then
      started=1; break
    fi
    port=""
  done
  [ -n "$started" ] || { tail -n 20 "$dir/postgres.log" >&2; exit 1; }
  echo "$port" >"$dir/port"
  echo "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

# The standby's name, as the primary's synchronous_standby_names says it
# (a walreceiver introduces itself by its cluster_name).
STANDBY_NAME=safeclose_standby

pg_standby_start() {
  local primary; primary=$(realpath -m "$1")
  local dir; dir=$(realpath -m "$2"); mkdir -p "$dir"
  local bin; bin=$(pg_bin) || { echo "postgresql is not installed: run scripts/stack.sh deps" >&2; exit 1; }
  local data="$dir/pgdata" pport
  pport=$(cat "$primary/port" 2>/dev/null) || { echo "no cluster in $primary: run scripts/stack.sh pg-start $primary" >&2; exit 1; }
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
  if [ -f "$dir/port" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"; return
  fi
  if [ ! -s "$data/PG_VERSION" ]; then
    # A copy of the primary, streaming from it (-R: standby.signal and
    # primary_conninfo), its WAL fetched alongside so the copy is whole.
    as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$pport" -U postgres -D "$data" -X stream -R -c fast >"$dir/basebackup.log" 2>&1 \
      || { cat "$dir/basebackup.log" >&2; exit 1; }
  fi
  local url; url=$(start_cluster "$dir" "$bin" "-c cluster_name=$STANDBY_NAME -c hot_standby=on")
  # Synchronous: the primary acknowledges a commit once the standby has
  # written it, so a commit the service acknowledged survives the
  # primary's loss.
  as_pg "$bin/psql" -X -q -h "$primary" -p "$pport" -U postgres -d postgres \
    -c "ALTER SYSTEM SET synchronous_standby_names = '$STANDBY_NAME'" -c "SELECT pg_reload_conf()" >/dev/null
  for _ in $(seq 1 300); do
    if [ "$(as_pg "$bin/psql" -X -Atq -h "$primary" -p "$pport" -U postgres -d postgres \
      -c "SELECT count(*) FROM pg_stat_replication WHERE application_name = '$STANDBY_NAME' AND sync_state = 'sync'")" = 1 ]; then
      echo "$url"; return
    fi
    sleep 0.1
  done
  echo "the standby in $dir did not become synchronous: see $dir/postgres.log" >&2; exit 1
}

pg_checkpoint() {
  local dir; dir=$(realpath -m "$1")
  local bin; bin=$(pg_bin) || exit 1
  as_pg "$bin/psql" -X -q -h "$dir" -p "$(cat "$dir/port")" -U postgres -d postgres -c CHECKPOINT >/dev/null
}

pg_promote() {
  local dir; dir=$(realpath -m "$1")
  local bin; bin=$(pg_bin) || exit 1
  as_pg "$bin/pg_ctl" -D "$dir/pgdata" -w -t 60 promote >/dev/null
  # It has no standby of its own: waiting for one would stop every commit.
  as_pg "$bin/psql" -X -q -h "$dir" -p "$(cat "$dir/port")" -U postgres -d postgres \
    -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null
  echo "postgres://postgres@127.0.0.1:$(cat "$dir/port")/postgres?sslmode=disable"
}

pg_stop() {
  local dir; dir=$(realpath -m "$1")
  local bin; bin=$(pg_bin) || exit 0
  [ -d "$dir/pgdata" ] && as_pg "$bin/pg_ctl" -D "$dir/pgdata" -m fast -w stop >/dev/null 2>&1 || true
}

mock_start() {
  local dir; dir=$(realpath -m "$1"); mkdir -p "$dir"
  if [ -f "$dir/mock.pid" ] && kill -0 "$(cat "$dir/mock.pid")" 2>/dev/null; then
    echo "http://127.0.0.1:$(cat "$dir/mock.port")"; return
  fi
  # HTTP only; a port another process took meanwhile means another try.
  local port pid
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    nohup "$(gobin)/stripe-mock" -http-port "$port" >"$dir/stripe-mock.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        echo "$pid" >"$dir/mock.pid"; echo "$port" >"$dir/mock.port"
        echo "http://127.0.0.1:$port"; return
      fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
  done
  echo "stripe-mock did not start" >&2; cat "$dir/stripe-mock.log" >&2; exit 1
}

mock_stop() {
  local dir; dir=$(realpath -m "$1")
  [ -f "$dir/mock.pid" ] && kill "$(cat "$dir/mock.pid")" 2>/dev/null || true
  rm -f "$dir/mock.pid"
}

case "${1:-}" in
  deps) deps ;;
  pg-start) pg_start "$2" ;;
  pg-stop) pg_stop "$2" ;;
  pg-standby-start) pg_standby_start "$2" "$3" ;;
  pg-promote) pg_promote "$2" ;;
  pg-checkpoint) pg_checkpoint "$2" ;;
  mock-start) mock_start "$2" ;;
  mock-stop) mock_stop "$2" ;;
  *) echo "usage: $0 deps|pg-start DIR|pg-stop DIR|pg-standby-start PRIMARY_DIR DIR|pg-promote DIR|mock-start DIR|mock-stop DIR" >&2; exit 2 ;;
esac
