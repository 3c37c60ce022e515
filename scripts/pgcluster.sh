#!/usr/bin/env bash
# A private PostgreSQL cluster that belongs to a state folder (the clone's var/, or a test's
# state folder), wherever that folder is.
#
#   pgcluster.sh create STATE [--throwaway]   initdb (if needed), start, write STATE/conninfo
#   pgcluster.sh start|stop|restart STATE      stop takes an optional mode (fast, immediate)
#   pgcluster.sh destroy STATE                 stop and remove the data
#   pgcluster.sh status STATE                  exit 0 when running
#
# PostgreSQL refuses to run as root, so as root it runs as `postgres`, and its files must be
# where `postgres` can reach them: a clone in root's home (mode 0700) is not. As root the
# cluster therefore lives in a postgres-owned 0700 folder outside the state folder,
# /var/lib/pinwatch/<hash of the state path> (throwaway test clusters: /var/tmp/pinwatch-test/),
# or $PINWATCH_PG_HOME/<hash>; STATE/pg-home records it, and STATE/pg, STATE/pg-sock and
# STATE/pg.log are symlinks into it for people. As any other user the cluster lives in
# STATE/cluster, owned by that user.
#
# The cluster is private: no TCP listener, a unix socket in a 0700 folder, and peer
# authentication through a pg_ident map that admits only the user who created it (root, or
# the ordinary user) and `postgres` — connecting as database user `postgres`. No password
# exists; any other local user is refused.
set -euo pipefail

cmd=${1:?usage: pgcluster.sh create|start|stop|restart|destroy|status STATE}
state_arg=${2:?state folder}
mkdir -p "$state_arg"
state=$(cd "$state_arg" && pwd -P)
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[ -x "$PG_BIN/initdb" ] || { echo "pgcluster: PostgreSQL server binaries not found" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }
# From /: postgres may not be able to enter the current folder.
as_pg() { if is_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

throwaway=0
[ "${3:-}" = "--throwaway" ] && throwaway=1

# Where the cluster lives: the recorded home if it still exists, else a new one.
cluster_home() {
  if [ -s "$state/pg-home" ] && [ -d "$(cat "$state/pg-home")" ]; then
    cat "$state/pg-home"
    return
  fi
  if ! is_root; then
    echo "$state/cluster"
    return
  fi
  local base=${PINWATCH_PG_HOME:-}
  if [ -z "$base" ]; then
    if [ "$throwaway" = 1 ]; then base=/var/tmp/pinwatch-test; else base=/var/lib/pinwatch; fi
  fi
  echo "$base/$(printf '%s' "$state" | sha256sum | cut -c1-16)"
}

home=$(cluster_home)
data=$home/data
sock=$home/sock
log=$home/postgresql.log
port=${PINWATCH_PG_PORT:-5432}
[ -s "$home/port" ] && port=$(cat "$home/port")
pg_user=$(is_root && echo postgres || id -un)

write_links() {
  echo "$home" >"$state/pg-home"
  ln -sfn "$data" "$state/pg"
  ln -sfn "$sock" "$state/pg-sock"
  ln -sfn "$log" "$state/pg.log"
  echo "host=$sock port=$port user=$pg_user" >"$state/conninfo"
  echo "$port" >"$state/port"
}

init_cluster() {
  local base
  base=$(dirname "$home")
  if is_root; then
    mkdir -p "$base"
    chmod 0755 "$base" # postgres must traverse it; each cluster below is 0700
    install -d -o postgres -g postgres -m 0700 "$home"
  else
    mkdir -p "$home" && chmod 0700 "$home"
  fi
  as_pg mkdir -m 0700 -p "$sock"
  local opts=(-D "$data" -U "$pg_user" -E UTF8 --auth-local=peer --auth-host=reject)
  [ "$throwaway" = 1 ] && opts+=(--no-sync)
  as_pg "$PG_BIN/initdb" "${opts[@]}" >"$state/initdb.log" 2>&1 ||
    { cat "$state/initdb.log" >&2; exit 1; }
  # Only the creating user (and postgres itself) may connect, as the cluster's superuser.
  local me
  me=$(id -un)
  as_pg bash -c "cat >'$data/pg_hba.conf'" <<HBA
# pinwatch: a private cluster. Unix socket only, peer authentication mapped below.
local all all peer map=pinwatch
HBA
  as_pg bash -c "cat >'$data/pg_ident.conf'" <<IDENT
pinwatch $me $pg_user
pinwatch $pg_user $pg_user
IDENT
  as_pg bash -c "cat >>'$data/postgresql.conf'" <<CONF
# pinwatch
listen_addresses = ''
port = $port
unix_socket_directories = '$sock'
unix_socket_permissions = 0700
CONF
  if [ "$throwaway" = 1 ]; then
    as_pg bash -c "cat >>'$data/postgresql.conf'" <<CONF
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 128MB
CONF
  fi
  as_pg bash -c "echo $port >'$home/port'"
}

running() { as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
  running && return 0
  # A socket folder under /run or /var/tmp may have been cleaned since the last start.
  as_pg mkdir -m 0700 -p "$sock"
  as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null ||
    { echo "pgcluster: PostgreSQL did not start, see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
}

stop() {
  [ -f "$data/postmaster.pid" ] || return 0
  as_pg "$PG_BIN/pg_ctl" -D "$data" -m "${1:-fast}" -w stop >/dev/null
}

case $cmd in
create)
  if [ "$throwaway" = 1 ]; then
    stop immediate 2>/dev/null || true
    [ -d "$home" ] && rm -rf "$home"
    rm -f "$state/pg-home"
    home=$(cluster_home) data=$home/data sock=$home/sock log=$home/postgresql.log
  fi
  [ -f "$data/PG_VERSION" ] || init_cluster
  write_links
  start
  ;;
start) start ;;
stop) stop "${3:-fast}" ;;
restart)
  stop fast
  start
  ;;
status) running ;;
destroy)
  stop immediate 2>/dev/null || true
  [ -d "$home" ] && [ -f "$data/PG_VERSION" -o ! -e "$data" ] && rm -rf "$home"
  rm -f "$state/pg-home" "$state/pg" "$state/pg-sock" "$state/pg.log" "$state/conninfo"
  ;;
*)
  echo "pgcluster: unknown command $cmd" >&2
  exit 2
  ;;
esac
