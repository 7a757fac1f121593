#!/usr/bin/env bash
# wxlogin scale-out benchmarks (issue 5, "Benchmarks"); written up in BENCHMARKS.md,
# "Scale-out (issue 5)".
#
#   bash bench/cluster.sh                          # both parts (~45 min after the build)
#   BENCH_PARTS=backends bash bench/cluster.sh     # part 1 only
#   BENCH_PARTS=scale BENCH_SCALE_SIZES="10000 1000000" bash bench/cluster.sh
#
# 1. backends: GET /v1/session and POST /v1/login, req/s and p99, per store: SQLite,
#    PostgreSQL, PostgreSQL + Redis, MariaDB, MariaDB + Redis; on one instance and on three
#    `wxlogin serve` processes sharing the store (SQLite: one; an embedded store belongs to one
#    process, and its cache has no lease, so revocation would not be instant across processes).
#    Each store holds BENCH_SESSIONS (1 000 000) seeded sessions; the session load draws a
#    token uniformly per request from a pool of BENCH_POOL (100 000) of them, as bench/run.sh
#    does, first with the default cache (warm-up BENCH_WARMUP, 30 s: each instance fills its own
#    cache), then with the cache off (every request reads the store). One instance:
#    `wrk -t2 -c64` as in bench/run.sh; three: one wrk process, `-t3 -c63`, thread i pinned to
#    instance i (bench/lua/spread.lua), so 21 connections each and exact merged percentiles.
#    Login: BENCH_LOGIN_CODES fresh codes from the simulator, each sent once (bench/lua/login.lua).
# 2. scale: one instance on SQLite and on PostgreSQL holding BENCH_SCALE_SIZES (10 k, 1 M, 10 M)
#    sessions: the same session loads over min(pool, stored) tokens, RSS at start and after
#    each load, seeding time and store size. Each store is dropped once measured (disk).
#
# Stores are seeded by bench/seed-sql (its own package): exactly the rows the server's
# record_login writes, real `wxl_` tokens whose SHA-256 is stored, session_keys sealed under
# the at-rest key the servers are given (a fresh random one per run, in a 0600 file).
# Servers: PostgreSQL, MariaDB and Redis on loopback from BENCH_POSTGRES_URL / BENCH_MYSQL_URL /
# BENCH_REDIS_URL, defaulting to the WXLTEST_* variables of scripts/services.sh; when none
# is set the script starts its own with scripts/services.sh. Databases are bench_cluster_*
# (dropped on exit); Redis keys live under a per-run prefix (nothing is flushed). URLs are never
# printed: they reach the seeder through its environment and the servers through 0600 configs.
#
# Per window the results line has req/s, p50/p99 (wrk --latency), CPU per request of the
# wxlogin instances, of the store server (the postmaster and its children / mariadbd) and of
# Redis (/proc/PID/stat deltas), RSS of each instance, how busy the machine was and the load
# average before it. Everything listens on 127.0.0.1; every load is bounded in time (wrk -d),
# logins also in count, seeding by `timeout`; every process started here is stopped on exit.
#
# Source: BENCH_REV as in bench/run.sh (HEAD by default); BENCH_REV=worktree builds a snapshot
# of the working tree, untracked files included, taken when the script starts.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PARTS=${BENCH_PARTS:-backends scale}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres mysql}
SESSIONS=${BENCH_SESSIONS:-1000000}
POOL=${BENCH_POOL:-100000}
WARMUP=${BENCH_WARMUP:-30}
NOCACHE_WARMUP=${BENCH_NOCACHE_WARMUP:-10}
DURATION=${BENCH_DURATION:-20}
LOGIN_CODES=${BENCH_LOGIN_CODES:-30000}
LOGIN_DURATION=${BENCH_LOGIN_DURATION:-10}
SCALE_STORES=${BENCH_SCALE_STORES:-sqlite postgres}
SCALE_SIZES=${BENCH_SCALE_SIZES:-10000 1000000 10000000}
SEED_TIMEOUT=${BENCH_SEED_TIMEOUT:-1800}
QUIET_BUSY=${BENCH_QUIET_BUSY:-25}
QUIET_WAIT=${BENCH_QUIET_WAIT:-120}
CONNECTIONS=64
APPID=wx1234567890abcdef
SECRET=wxlogin-demo-secret-not-for-production

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RUN=$ROOT/target/bench-data/cluster-$STAMP
mkdir -p "$RUN"
RESULTS=$RUN/results.txt
export CARGO_TARGET_DIR=$ROOT/target/bench
WXLOGIN=$CARGO_TARGET_DIR/release/wxlogin
SEEDER=$CARGO_TARGET_DIR/release/wxlogin-bench-seed-sql

# The servers' URLs, then no WXLOGIN_* variable may reach (and change) the servers under test.
PG_URL=${BENCH_POSTGRES_URL:-${WXLTEST_POSTGRES_URL:-}}
MY_URL=${BENCH_MYSQL_URL:-${WXLTEST_MYSQL_URL:-}}
REDIS_URL=${BENCH_REDIS_URL:-${WXLTEST_REDIS_URL:-}}
# shellcheck source=lib.sh
source bench/lib.sh

DATABASES=() # "KIND NAME" to drop on exit
OWN_SERVICES=0
cleanup() {
  local entry
  stop_started
  for entry in "${DATABASES[@]}"; do drop_database $entry || true; done
  if [[ $OWN_SERVICES == 1 ]]; then services_stop; fi
}

# ---- tools, services and builds ----------------------------------------------------------------
command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
if [[ -z $PG_URL && -z $MY_URL && -z $REDIS_URL ]]; then
  # shellcheck source=../scripts/services.sh
  source scripts/services.sh
  services_start
  OWN_SERVICES=1
  trap cleanup EXIT # services_start installed its own
  PG_URL=$WXLTEST_POSTGRES_URL MY_URL=$WXLTEST_MYSQL_URL REDIS_URL=$WXLTEST_REDIS_URL
  for v in $(env | sed -n 's/^\(WXLOGIN_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
elif [[ -z $PG_URL || -z $MY_URL || -z $REDIS_URL ]]; then
  echo "set all of BENCH_POSTGRES_URL, BENCH_MYSQL_URL, BENCH_REDIS_URL (or none)" >&2
  exit 1
fi

REV=${BENCH_REV:-HEAD}
SOURCE_NOTE=$CARGO_TARGET_DIR/cluster-source.txt
if [[ ${BENCH_BUILD:-1} == 0 ]]; then
  # Re-measure with the binaries of the previous build (and the source it recorded).
  COMMIT="$(cat "$SOURCE_NOTE") (prebuilt)"
elif [[ $REV == worktree ]]; then
  SRC=$ROOT/target/bench-src/worktree
  COMMIT="$(git rev-parse HEAD) + working tree as of $(date -u +%FT%TZ)"
  rm -rf "$SRC"
  mkdir -p "$SRC"
  # Tracked and untracked (not ignored) files; one deleted meanwhile is simply absent.
  git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$SRC" 2>/dev/null || true
else
  COMMIT=$(git rev-parse --verify "$REV^{commit}")
  SRC=$ROOT/target/bench-src/${REV//\//_}
  if [[ $(cat "$SRC/.commit" 2>/dev/null) != "$COMMIT" ]]; then
    rm -rf "$SRC"
    mkdir -p "$SRC"
    git archive "$COMMIT" | tar -x -C "$SRC"
    echo "$COMMIT" >"$SRC/.commit"
  fi
  rm -rf "$SRC/bench"
  cp -a "$ROOT/bench" "$SRC/bench"
fi
if [[ ${BENCH_BUILD:-1} != 0 ]]; then
  (cd "$SRC" && cargo build --release --bin wxlogin)
  (cd "$SRC/bench/seed-sql" && cargo build --release)
  echo "$COMMIT" >"$SOURCE_NOTE"
fi

# ---- helpers -----------------------------------------------------------------------------------
# url_port URL: the port of scheme://[user[:password]@]host:port[/path][?query].
url_port() {
  local rest=${1#*://}
  rest=${rest##*@}
  rest=${rest%%/*}
  rest=${rest%%\?*}
  echo "${rest##*:}"
}
listener_pid() { ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2; }
# CPU ticks of a server process and its children (PostgreSQL's backends are children).
tree_ticks() {
  local root=$1 total=0 p
  [[ -n $root ]] || { echo 0; return; }
  for p in "$root" $(pgrep -P "$root" || true); do total=$((total + $(ticks "$p"))); done
  echo "$total"
}
PG_PID=$(listener_pid "$(url_port "$PG_URL")")
MY_PID=$(listener_pid "$(url_port "$MY_URL")")
REDIS_PID=$(listener_pid "$(url_port "$REDIS_URL")")

# db_url BASE NAME: BASE with its database replaced by NAME (query string kept).
db_url() {
  local base=$1 name=$2 query=""
  if [[ $base == *\?* ]]; then query="?${base#*\?}"; base=${base%%\?*}; fi
  echo "${base%/*}/$name$query"
}
admin_url() { case $1 in postgres) echo "$PG_URL" ;; mysql) echo "$MY_URL" ;; esac; }
drop_database() { BENCH_ADMIN_URL=$(admin_url "$1") "$SEEDER" drop-db "$2"; }

# A fresh at-rest key for this run's shared stores (every instance and the seeder use it).
KEYS=$RUN/at-rest.keys
(umask 077 && echo "k1:$(head -c 32 /dev/urandom | base64 -w0)" >"$KEYS")

# The disk is shared with the database servers (and other people's builds): a full disk crashes
# PostgreSQL. Seeding needs about BYTES_PER_SESSION per session (SQLite ~0.85 KB, PostgreSQL
# ~0.9 KB with indexes, plus token lines) and BENCH_DISK_MARGIN_GB to spare, or is skipped; a
# seeder that drives free space below BENCH_DISK_FLOOR_GB is stopped and its store dropped.
BYTES_PER_SESSION=1300
DISK_MARGIN_GB=${BENCH_DISK_MARGIN_GB:-3}
DISK_FLOOR_GB=${BENCH_DISK_FLOOR_GB:-2}
avail_kib() { df -Pk "$RUN" | awk 'NR == 2 {print $4}'; }

# seed KIND COUNT NAME: a fresh store of COUNT sessions; returns 1 (store dropped, results line
# written) when the disk cannot take it. Sets STORE_KIND, STORE_DIR (SQLite data_dir), STORE_URL
# (shared stores' database_url; never printed), TOKENS.
seed() {
  local kind=$1 count=$2 name=$3 url log need pid child
  STORE_KIND=$kind
  STORE_DIR=$RUN/$name
  STORE_URL=
  TOKENS=$RUN/$name.tokens.tsv
  log=$RUN/$name.seed.log
  need=$((count / 1024 * BYTES_PER_SESSION + DISK_MARGIN_GB * 1024 * 1024))
  if (($(avail_kib) < need)); then
    say "seed $kind $count: skipped, $(($(avail_kib) / 1024 / 1024)) GiB free on the disk, $((need / 1024 / 1024)) GiB wanted"
    return 1
  fi
  case $kind in
    sqlite)
      rm -rf "$STORE_DIR"
      mkdir -p "$STORE_DIR"
      url="sqlite://$STORE_DIR/wxlogin.db"
      ;;
    postgres | mysql)
      BENCH_ADMIN_URL=$(admin_url "$kind") "$SEEDER" reset-db "$name"
      DATABASES+=("$kind $name")
      STORE_URL=$(db_url "$(admin_url "$kind")" "$name")
      url=$STORE_URL
      ;;
  esac
  BENCH_DATABASE_URL=$url BENCH_AT_REST_KEYS_FILE=$KEYS BENCH_TOKENS_EVERY=${BENCH_TOKENS_EVERY:-1} /usr/bin/time \
    -f "%e s wall, %U s user, %S s sys, seeder max RSS %M KiB" \
    timeout "$SEED_TIMEOUT" "$SEEDER" seed "$count" "$TOKENS" "$APPID" >"$log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  while kill -0 "$pid" 2>/dev/null; do
    if (($(avail_kib) < DISK_FLOOR_GB * 1024 * 1024)); then
      # `timeout` passes the signal on to the seeder.
      child=$(pgrep -P "$pid" || true)
      [[ -z $child ]] || kill "$child" 2>/dev/null || true
      stop "$pid"
      drop_store
      say "seed $kind $count: stopped, free disk fell below $DISK_FLOOR_GB GiB"
      return 1
    fi
    sleep 2
  done
  local status=0
  wait "$pid" || status=$?
  stop "$pid"
  ((status == 0)) || { tail -5 "$log" >&2; echo "seeding $name failed" >&2; exit 1; }
  say "seed $kind $count: $(grep '^record_login' "$log"); $(grep '^bulk' "$log" || true); $(tail -1 "$log"); store $(store_size)"
}
store_size() {
  local bytes
  case $STORE_KIND in
    sqlite) bytes=$(du -sb "$STORE_DIR" | cut -f1) ;;
    *) bytes=$(BENCH_DATABASE_URL=$STORE_URL "$SEEDER" size) ;;
  esac
  echo "$((bytes / 1024 / 1024)) MiB"
}
drop_store() {
  case $STORE_KIND in
    sqlite) rm -rf "$STORE_DIR" ;;
    *)
      drop_database "$STORE_KIND" "$(basename "$STORE_DIR")"
      local keep=() entry
      for entry in "${DATABASES[@]}"; do
        [[ $entry == "$STORE_KIND $(basename "$STORE_DIR")" ]] || keep+=("$entry")
      done
      DATABASES=("${keep[@]}")
      ;;
  esac
  rm -f "$TOKENS"
}

# sample_pool N FILE: N tokens drawn uniformly (without replacement) from the seeded ones.
sample_pool() { shuf -n "$1" --random-source=<(yes) "$TOKENS" >"$2"; }

# write_config FILE REDIS(0|1): the servers' configuration for the current store; production
# settings otherwise (default log level, cache, session policy, pool sizes).
write_config() {
  local file=$1 redis=$2
  (
    umask 077
    {
      echo 'listen = "127.0.0.1:0"'
      if [[ $STORE_KIND == sqlite ]]; then
        echo "data_dir = \"$STORE_DIR\""
      else
        echo "data_dir = \"$RUN/data\""
        echo "database_url = \"$STORE_URL\""
        echo "at_rest_keys_file = \"$KEYS\""
      fi
      [[ $redis == 1 ]] && echo "redis_url = \"$REDIS_URL\""
      echo
      echo '[wechat]'
      echo "api_base = \"http://$SIM\""
      echo 'allow_http = true'
      if [[ $redis == 1 ]]; then
        echo
        echo '[redis]'
        echo "key_prefix = \"wxlogin-bench-$STAMP:\""
      fi
      echo
      echo '[[apps]]'
      echo "appid = \"$APPID\""
      echo "secret = \"$SECRET\""
    } >"$file"
  )
}

# start_instances LABEL N CONFIG [VAR=VALUE...]: N servers on CONFIG; sets INSTANCES, ADDRS.
start_instances() {
  local label=$1 n=$2 config=$3 i first
  shift 3
  INSTANCES=()
  ADDRS=()
  for i in $(seq 1 "$n"); do
    start "$label-$i" env "$@" "$WXLOGIN" serve --config "$config"
    INSTANCES+=("$PID")
    ADDRS+=("$ADDR")
  done
  # Every instance is ready and verifies a seeded token to the seeded session.
  first=$(head -1 "$POOLFILE")
  for ADDR in "${ADDRS[@]}"; do
    curl -fsS "http://$ADDR/readyz" >/dev/null
    curl -fsS "http://$ADDR/v1/session" -H "authorization: Bearer ${first%%$'\t'*}" |
      grep -q "\"user_id\":\"$(cut -f2 <<<"$first")\",\"session_id\":\"$(cut -f3 <<<"$first")\"" ||
      { echo "instance $ADDR does not verify a seeded token" >&2; exit 1; }
  done
}
stop_instances() {
  local pid
  for pid in "${INSTANCES[@]}"; do stop "$pid"; done
}
instances_rss() { local p out=(); for p in "${INSTANCES[@]}"; do out+=("$(rss_mib "$p")"); done; (IFS=+; echo "${out[*]}"); }
instances_ticks() { local p t=0; for p in "${INSTANCES[@]}"; do t=$((t + $(ticks "$p"))); done; echo "$t"; }

# wrk_run OUT SECONDS SCRIPT PATH ARGS...: one instance: wrk -t2 -c64; several: one thread per
# instance (bench/lua/spread.lua) and the largest multiple of their number not above 64.
wrk_run() {
  local out=$1 secs=$2 script=$3 path=$4 n=${#ADDRS[@]}
  shift 4
  if ((n == 1)); then
    wrk -t2 -c"$CONNECTIONS" -d"${secs}s" --latency -s "$script" "http://${ADDRS[0]}$path" "$@" >"$RUN/$out.txt"
  else
    BENCH_ADDRS=$(IFS=,; echo "${ADDRS[*]}") BENCH_SCRIPT=$script \
      wrk -t"$n" -c$((CONNECTIONS / n * n)) -d"${secs}s" --latency -s bench/lua/spread.lua \
      "http://${ADDRS[0]}$path" "$@" >"$RUN/$out.txt"
  fi
}
wrk_threads() { ((${#ADDRS[@]} == 1)) && echo 2 || echo "${#ADDRS[@]}"; }

# window LABEL COUNT_FIELD CMD...: runs CMD (a measured wrk) and writes one results line with
# the CPU each party spent per counted request. STORE_PID / USES_REDIS say who to count.
window() {
  local label=$1 field=$2 load c0 s0 r0 m0 c1 s1 r1 m1 result count
  shift 2
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  c0=$(instances_ticks); s0=$(tree_ticks "$STORE_PID"); r0=$(ticks "$REDIS_PID"); m0=$(machine_busy)
  "$@"
  c1=$(instances_ticks); s1=$(tree_ticks "$STORE_PID"); r1=$(ticks "$REDIS_PID"); m1=$(machine_busy)
  result=$(grep '^RESULT' "$RUN/$label.txt" | sed 's/^RESULT //')
  count=$(sed -n "s/.*$field=\([0-9]*\).*/\1/p" <<<"$result")
  ((count > 0)) || count=1
  per() { echo "scale=1; ($2 - $1) * 1000000 / $HZ / $count" | bc; }
  say "$(printf '%-30s %s wxlogin_cpu_us=%s store_cpu_us=%s redis_cpu_us=%s rss_mib=%s machine_busy=%s%% loadavg_before=%s %s' \
    "$label" "$result" "$(per "$c0" "$c1")" \
    "$([[ $STORE_KIND == sqlite ]] && echo - || per "$s0" "$s1")" \
    "$([[ $USES_REDIS == 1 ]] && per "$r0" "$r1" || echo -)" \
    "$(instances_rss)" \
    "$(read -r b0 t0 <<<"$m0"; read -r b1 t1 <<<"$m1"; echo "100 * ($b1 - $b0) / ($t1 - $t0)" | bc)" \
    "${load// //}" "$GATE")"
}

# quiet_gate: waits, at most BENCH_QUIET_WAIT seconds, until other work leaves the machine
# nearly idle (at most BENCH_QUIET_BUSY % busy over 2 s while none of our loads runs): builds
# sharing the 2 cores skew every figure. Sets GATE for the results line.
quiet_gate() {
  local waited=0 m0 m1 busy
  while :; do
    m0=$(machine_busy)
    sleep 2
    m1=$(machine_busy)
    busy=$(read -r b0 t0 <<<"$m0"; read -r b1 t1 <<<"$m1"; echo "100 * ($b1 - $b0) / ($t1 - $t0)" | bc)
    ((busy <= QUIET_BUSY || waited >= QUIET_WAIT)) && break
    sleep 8
    waited=$((waited + 10))
  done
  GATE="busy_before=$busy% waited=${waited}s"
}

# session_load LABEL WARMUP POOLSIZE: warm-up, then the measured window.
session_load() {
  local label=$1 warmup=$2 n=$3
  quiet_gate
  wrk_run "$label.warmup" "$warmup" bench/lua/session.lua /v1/session -- "$POOLFILE" "$n"
  window "$label" requests wrk_run "$label" "$DURATION" bench/lua/session.lua /v1/session -- "$POOLFILE" "$n"
}

# login_load LABEL: fresh codes, then one bounded window of logins.
login_load() {
  local label=$1 codes=$RUN/$1.codes
  quiet_gate
  python3 bench/gen_codes.py "$SIM" "$APPID" "$LOGIN_CODES" "$codes" "$label-$STAMP" >/dev/null
  window "$label" logins_ok wrk_run "$label" "$LOGIN_DURATION" bench/lua/login.lua /v1/login \
    -- "$codes" "$(wrk_threads)" "$APPID"
  rm -f "$codes"
}

# cache_counters LABEL: each stopped instance's session-cache counters (logged at shutdown).
cache_counters() {
  local label=$1 i out=()
  for i in $(seq 1 "${#INSTANCES[@]}"); do
    out+=("$(grep -o 'hits=[0-9]* misses=[0-9]*' "$RUN/$label-$i.err" | tail -1)")
  done
  say "  $label cache counters (warm-up + measured): $(IFS=';'; echo "${out[*]}")"
}

# server_warnings LABEL: WARN / ERROR lines the instances logged, by kind (first words).
server_warnings() {
  local label=$1 summary
  # (No warning at all is the good case: grep's exit status 1 must not end the run.)
  summary=$(cat "$RUN/$label"-[0-9]*.err | { grep -E ' (WARN|ERROR) ' || true; } | sed -E 's/^[^ ]+ +//' |
    cut -c1-70 | sort | uniq -c | awk '{n=$1; $1=""; printf "%s×%s; ", n, $0}')
  [[ -z $summary ]] || say "  $label server warnings: $summary"
}

# ---- machine and simulator ---------------------------------------------------------------------
start simulator "$WXLOGIN" simulate --listen 127.0.0.1:0
SIM=$ADDR
CPU=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
say "source: $COMMIT"
say "machine: nproc=$(nproc) cpu=\"$CPU\" mem=$(free -g | awk '/^Mem/ {print $2}')GiB kernel=$(uname -r) date=$(date -u +%FT%TZ) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
say "servers: $(psql --version | head -1 | cut -d' ' -f3) PostgreSQL pid $PG_PID; MariaDB pid $MY_PID ($(mariadb --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*-MariaDB' | head -1)); Redis pid $REDIS_PID ($(redis-server --version | grep -o 'v=[0-9.]*'))"
say "busiest other processes at start: $(ps -eo pcpu,comm --sort=-pcpu | sed -n 2,6p | awk '{printf "%s %s%%; ", $2, $1}')"

# ---- part 1: backends, one and three instances -------------------------------------------------
if [[ " $PARTS " == *" backends "* ]]; then
  say "== backends: $SESSIONS sessions stored, pool $POOL uniform, warm-up ${WARMUP}s (cache off: ${NOCACHE_WARMUP}s), measured ${DURATION}s; login ${LOGIN_CODES} codes, ${LOGIN_DURATION}s"
  for kind in $BACKENDS; do
    seed "$kind" "$SESSIONS" "bench_cluster_$kind" || continue
    POOLFILE=$RUN/bench_cluster_$kind.pool.tsv
    sample_pool "$POOL" "$POOLFILE"
    case $kind in
      sqlite) variants="0"; counts="1"; STORE_PID= ;;
      postgres) variants="0 1"; counts="1 3"; STORE_PID=$PG_PID ;;
      mysql) variants="0 1"; counts="1 3"; STORE_PID=$MY_PID ;;
    esac
    for USES_REDIS in $variants; do
      config=$RUN/$kind-redis$USES_REDIS.toml
      write_config "$config" "$USES_REDIS"
      for n in $counts; do
        label=$kind$([[ $USES_REDIS == 1 ]] && echo +redis || true)-${n}x
        start_instances "$label" "$n" "$config"
        say "  $label RSS at start: $(instances_rss) MiB"
        session_load "$label-session" "$WARMUP" "$POOL"
        login_load "$label-login"
        stop_instances
        cache_counters "$label"
        server_warnings "$label"
        start_instances "$label-nocache" "$n" "$config" WXLOGIN_SESSIONS__CACHE_CAPACITY=0
        session_load "$label-session-nocache" "$NOCACHE_WARMUP" "$POOL"
        stop_instances
        server_warnings "$label-nocache"
      done
    done
    drop_store
  done
fi

# ---- part 2: stored sessions from 10 thousand to 10 million ------------------------------------
if [[ " $PARTS " == *" scale "* ]]; then
  say "== scale: one instance, pool min($POOL, stored) uniform, warm-up ${WARMUP}s (cache off: ${NOCACHE_WARMUP}s), measured ${DURATION}s"
  USES_REDIS=0
  for kind in $SCALE_STORES; do
    case $kind in sqlite) STORE_PID= ;; postgres) STORE_PID=$PG_PID ;; mysql) STORE_PID=$MY_PID ;; esac
    for size in $SCALE_SIZES; do
      # An evenly spread sample of the tokens, a pool's worth: 10 M lines would be 2.3 GB.
      BENCH_TOKENS_EVERY=$((size > POOL ? size / POOL : 1)) seed "$kind" "$size" "bench_cluster_scale_$size" ||
        continue
      pool=$((size < POOL ? size : POOL))
      POOLFILE=$RUN/scale-$kind-$size.pool.tsv
      sample_pool "$pool" "$POOLFILE"
      config=$RUN/scale-$kind.toml
      write_config "$config" 0
      label=scale-$kind-$size
      start_instances "$label" 1 "$config"
      say "  $label RSS at start: $(instances_rss) MiB"
      session_load "$label-session" "$WARMUP" "$pool"
      stop_instances
      cache_counters "$label"
      server_warnings "$label"
      start_instances "$label-nocache" 1 "$config" WXLOGIN_SESSIONS__CACHE_CAPACITY=0
      say "  $label-nocache RSS at start: $(instances_rss) MiB"
      session_load "$label-session-nocache" "$NOCACHE_WARMUP" "$pool"
      stop_instances
      server_warnings "$label-nocache"
      drop_store
    done
  done
fi
say "results: $RESULTS"
