# Real database servers for the test suites: PostgreSQL, MariaDB and Redis on loopback, each
# with a throwaway data directory. Meant to be sourced:
#
#   source scripts/services.sh && services_start
#
# installs whatever is missing (Debian packages), starts the three servers on free ports, exports
#
#   WXLTEST_POSTGRES_URL  postgres://wxlogin@127.0.0.1:PORT/postgres   (superuser, trust auth)
#   WXLTEST_MYSQL_URL     mysql://wxlogin:wxlogin@127.0.0.1:PORT/mysql (all privileges)
#   WXLTEST_REDIS_URL     redis://127.0.0.1:PORT
#   WXLTEST_REDIS_PID     the Redis server's pid (tests pause it with SIGSTOP)
#
# and stops them (removing their data) when the sourcing shell exits. The suites that need a
# server read these variables and fail (never skip) when one is missing.
#
# Run directly (`bash scripts/services.sh`) it starts the servers, prints the exports and waits
# until interrupted: handy for running one suite by hand.

services_log() { printf '==> %s\n' "$*" >&2; }

services_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

services_install_missing() {
  local missing=()
  command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v initdb >/dev/null 2>&1 || [ -d /usr/lib/postgresql ] || missing+=(postgresql)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  if [ ${#missing[@]} -gt 0 ]; then
    services_log "installing ${missing[*]} (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# PostgreSQL's tools live in /usr/local/bin on some images and /usr/lib/postgresql/N/bin on
# Debian's package.
services_pg_bin() {
  if command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v initdb)"
  else
    ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1
  fi
}

services_wait() { # what, command...
  local what=$1; shift
  for _ in $(seq 1 150); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  services_log "$what did not come up"
  return 1
}

services_start() {
  services_install_missing
  SERVICES_DIR=$(mktemp -d /tmp/wxlogin-services.XXXXXX)
  chmod 755 "$SERVICES_DIR"
  trap services_stop EXIT

  # --- PostgreSQL (refuses to run as root: run it as the postgres user) ---------------------
  local pg_bin pg_port pg_dir run_pg=()
  pg_bin=$(services_pg_bin)
  pg_port=$(services_free_port)
  pg_dir="$SERVICES_DIR/postgres"
  mkdir -p "$pg_dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres "$pg_dir"
    run_pg=(runuser -u postgres --)
  fi
  "${run_pg[@]}" "$pg_bin/initdb" -A trust --no-sync -U wxlogin -D "$pg_dir/data" >"$SERVICES_DIR/postgres.log" 2>&1
  "${run_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -o \
    "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
    start >>"$SERVICES_DIR/postgres.log" 2>&1
  SERVICES_PG=("${run_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop)
  export WXLTEST_POSTGRES_URL="postgres://wxlogin@127.0.0.1:$pg_port/postgres"

  # --- MariaDB ---------------------------------------------------------------------------------
  local my_port my_dir
  my_port=$(services_free_port)
  my_dir="$SERVICES_DIR/mariadb"
  mkdir -p "$my_dir"
  mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$my_dir/data" \
    --auth-root-authentication-method=normal >"$SERVICES_DIR/mariadb.log" 2>&1
  mariadbd --no-defaults --user="$(id -un)" --datadir="$my_dir/data" --bind-address=127.0.0.1 \
    --port="$my_port" --socket="$my_dir/sock" --pid-file="$my_dir/pid" --skip-name-resolve \
    --innodb-flush-log-at-trx-commit=2 --innodb-doublewrite=0 --max-connections=400 \
    --log-error="$my_dir/error.log" >>"$SERVICES_DIR/mariadb.log" 2>&1 &
  services_wait MariaDB mariadb --no-defaults -uroot --socket="$my_dir/sock" -e 'SELECT 1'
  mariadb --no-defaults -uroot --socket="$my_dir/sock" -e \
    "CREATE USER 'wxlogin'@'%' IDENTIFIED BY 'wxlogin'; GRANT ALL ON *.* TO 'wxlogin'@'%' WITH GRANT OPTION;"
  SERVICES_MY_PID_FILE="$my_dir/pid"
  export WXLTEST_MYSQL_URL="mysql://wxlogin:wxlogin@127.0.0.1:$my_port/mysql"

  # --- Redis -----------------------------------------------------------------------------------
  local redis_port
  redis_port=$(services_free_port)
  redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no --daemonize yes \
    --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log" --dir "$SERVICES_DIR"
  services_wait Redis redis-cli -p "$redis_port" ping
  export WXLTEST_REDIS_URL="redis://127.0.0.1:$redis_port"
  WXLTEST_REDIS_PID=$(cat "$SERVICES_DIR/redis.pid")
  export WXLTEST_REDIS_PID

  services_log "PostgreSQL on $pg_port, MariaDB on $my_port, Redis on $redis_port"
}

services_stop() {
  [ -n "${SERVICES_DIR:-}" ] || return 0
  if [ -n "${WXLTEST_REDIS_PID:-}" ]; then
    kill -CONT "$WXLTEST_REDIS_PID" 2>/dev/null || true
    kill "$WXLTEST_REDIS_PID" 2>/dev/null || true
  fi
  if [ -n "${SERVICES_MY_PID_FILE:-}" ] && [ -f "$SERVICES_MY_PID_FILE" ]; then
    kill "$(cat "$SERVICES_MY_PID_FILE")" 2>/dev/null || true
  fi
  if [ -n "${SERVICES_PG:-}" ]; then "${SERVICES_PG[@]}" >/dev/null 2>&1 || true; fi
  sleep 0.5
  rm -rf "$SERVICES_DIR"
  SERVICES_DIR=
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  services_start
  echo "export WXLTEST_POSTGRES_URL=$WXLTEST_POSTGRES_URL"
  echo "export WXLTEST_MYSQL_URL=$WXLTEST_MYSQL_URL"
  echo "export WXLTEST_REDIS_URL=$WXLTEST_REDIS_URL"
  echo "export WXLTEST_REDIS_PID=$WXLTEST_REDIS_PID"
  echo "(Ctrl-C stops the servers)"
  while true; do sleep 3600; done
fi
