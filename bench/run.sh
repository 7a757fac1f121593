#!/usr/bin/env bash
# wxlogin benchmarks (issue 3, "Benchmarks"); results are written up in BENCHMARKS.md.
#
#   bash bench/run.sh
#
# 1. builds `wxlogin` (release), the reference server and the seeder (bench/*, own workspaces,
#    target dir target/bench);
# 2. seeds BENCH_SESSIONS (1 000 000) sessions into an embedded store in target/bench-data/
#    unless already seeded (re-seeds when the seed is older than 6 days: sessions idle out
#    after 7);
# 3. starts `wxlogin simulate`, `wxlogin serve --config` (production settings: default log
#    level, default middleware, default cache) on the seeded data_dir, and the reference server;
# 4. GET /v1/session: wrk, 64 connections, 2 threads, one Lua script (bench/lua/session.lua)
#    drawing a token uniformly at random from the first BENCH_POOL (100 000) per request, against
#    both servers in the same run: warm-up, then a fixed measured window; BENCH_ROUNDS rounds,
#    alternating which server goes first;
# 5. the same with the pool = every stored session (1M, uniform), and with the session cache
#    off (calibrates the hit-rate measurement below);
# 6. POST /v1/login: BENCH_LOGIN_CODES fresh codes pre-generated from the simulator, popped by
#    bench/lua/login.lua (bounded in count and time); logins/s and CPU per login.
#
# Everything listens on 127.0.0.1 only; every load is bounded in time (wrk -d) and the login
# load also in count; every process started here is stopped on exit (trap).
#
# Session-cache hit rate: wxlogin exposes no cache counters over HTTP, so it is measured from
# outside: on a cache miss the store reads SQLite pages with pread(2), which /proc/PID/io counts
# (syscr); socket I/O (recv/send) is not counted there. hit rate = 1 - (syscr per request) /
# (syscr per request with the cache off). It is also estimated from capacity vs working set.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SESSIONS=${BENCH_SESSIONS:-1000000}
POOL=${BENCH_POOL:-100000}
WARMUP=${BENCH_WARMUP:-10}
DURATION=${BENCH_DURATION:-20}
ROUNDS=${BENCH_ROUNDS:-2}
CONNECTIONS=64
THREADS=2
LOGIN_CODES=${BENCH_LOGIN_CODES:-40000}
LOGIN_DURATION=${BENCH_LOGIN_DURATION:-10}
EXTRA=${BENCH_EXTRA:-1} # 1M-pool and cache-off runs
WHATIF=${BENCH_WHATIF:-1} # renew_interval = 1 h runs (isolates the sliding-renewal writes)
LOGIN=${BENCH_LOGIN:-1} # POST /v1/login
PROFILE=${BENCH_PROFILE:-0} # perf record of wxlogin during one extra 100k-pool window
APPID=wx1234567890abcdef
SECRET=wxlogin-demo-secret-not-for-production

DATA=$ROOT/target/bench-data
RUN=$DATA/run-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RUN"
RESULTS=$RUN/results.txt
# What is measured: a clean snapshot of a commit (BENCH_REV, default HEAD), so edits in progress
# in the working tree neither break nor skew the run; BENCH_REV=worktree builds the tree as is.
REV=${BENCH_REV:-HEAD}
export CARGO_TARGET_DIR=$ROOT/target/bench
WXLOGIN=$CARGO_TARGET_DIR/release/wxlogin
REFERENCE=$CARGO_TARGET_DIR/release/wxlogin-bench-reference
SEEDER=$CARGO_TARGET_DIR/release/wxlogin-bench-seed

# shellcheck source=lib.sh
source bench/lib.sh

# ---- tools and builds ------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  apt-get update && apt-get install -y wrk
fi
if [[ $REV == worktree ]]; then
  SRC=$ROOT
  COMMIT="$(git rev-parse HEAD) + working tree"
else
  COMMIT=$(git rev-parse --verify "$REV^{commit}")
  SRC=$ROOT/target/bench-src/${REV//\//_}
  if [[ $(cat "$SRC/.commit" 2>/dev/null) != "$COMMIT" ]]; then
    rm -rf "$SRC"
    mkdir -p "$SRC"
    git archive "$COMMIT" | tar -x -C "$SRC"
    echo "$COMMIT" >"$SRC/.commit"
  fi
  # The seeder depends on the crates by relative path: build it inside the snapshot.
  rm -rf "$SRC/bench"
  cp -a "$ROOT/bench" "$SRC/bench"
fi
(cd "$SRC" && cargo build --release --bin wxlogin)
(cd "$SRC/bench/reference-server" && cargo build --release)
(cd "$SRC/bench/seed" && cargo build --release)

# One seeded store per session count and schema (a migration change re-seeds).
SCHEMA=$(cat "$SRC"/crates/wxlogin-store/migrations/sqlite/*.sql | sha256sum | cut -c1-12)
SEED_DIR=$DATA/store-$SESSIONS-$SCHEMA
TOKENS=$SEED_DIR/tokens.tsv

# ---- seed --------------------------------------------------------------------------------------
if [[ ! -f $SEED_DIR/seed.done ]] || [[ -n $(find "$SEED_DIR/seed.done" -mmin +$((6 * 24 * 60))) ]]; then
  rm -rf "$SEED_DIR"
  mkdir -p "$SEED_DIR"
  echo "seeding $SESSIONS sessions into $SEED_DIR"
  /usr/bin/time -f "seed: %e s wall, %U s user, %S s sys, max RSS %M KiB" \
    "$SEEDER" "$SEED_DIR" "$SESSIONS" "$TOKENS" "$APPID" 2>&1 | tee "$SEED_DIR/seed.log"
  touch "$SEED_DIR/seed.done"
fi
[[ $(wc -l <"$TOKENS") -ge $SESSIONS ]] || { echo "token file incomplete: delete $SEED_DIR" >&2; exit 1; }

# ---- helpers -----------------------------------------------------------------------------------
syscr() { awk '/^syscr/ {print $2}' "/proc/$1/io"; }

# measure LABEL PID URL POOLSIZE: warm-up then a measured window; one RESULT line.
measure() {
  local label=$1 pid=$2 url=$3 pool=$4
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -s bench/lua/session.lua "$url/v1/session" \
    -- "$TOKENS" "$pool" >"$RUN/$label.warmup.txt"
  local c0 r0 m0 c1 r1 m1 load
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  c0=$(ticks "$pid"); r0=$(syscr "$pid"); m0=$(machine_busy)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s bench/lua/session.lua \
    "$url/v1/session" -- "$TOKENS" "$pool" >"$RUN/$label.txt"
  c1=$(ticks "$pid"); r1=$(syscr "$pid"); m1=$(machine_busy)
  local result requests
  result=$(grep '^RESULT' "$RUN/$label.txt" | sed 's/^RESULT //')
  requests=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$result")
  local warm
  warm=$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' "$RUN/$label.warmup.txt")
  say "$(printf '%-22s %s warmup_rps=%s server_cpu_us_per_req=%.2f syscr_per_req=%.3f rss_mib=%s machine_busy=%s loadavg_before=%s' \
    "$label" "$result" "$warm" \
    "$(echo "($c1 - $c0) * 1000000 / $HZ / $requests" | bc -l)" \
    "$(echo "($r1 - $r0) / $requests" | bc -l)" \
    "$(rss_mib "$pid")" \
    "$(read -r b0 t0 <<<"$m0"; read -r b1 t1 <<<"$m1"; echo "scale=0; 100 * ($b1 - $b0) / ($t1 - $t0)" | bc)%" \
    "${load// //}")"
}

# ---- servers -----------------------------------------------------------------------------------
start simulator "$WXLOGIN" simulate --listen 127.0.0.1:0
SIM=$ADDR
SIM_PID=$PID

cat >"$RUN/wxlogin.toml" <<EOF
# Production settings: default log level, middleware, cache and session policy.
listen = "127.0.0.1:0"
data_dir = "$SEED_DIR"

[wechat]
api_base = "http://$SIM"
allow_http = true

[[apps]]
appid = "$APPID"
secret = "$SECRET"
EOF

start wxlogin "$WXLOGIN" serve --config "$RUN/wxlogin.toml"
WX="http://$ADDR"
WX_PID=$PID
start reference "$REFERENCE" "$TOKENS" 127.0.0.1:0
REF="http://$ADDR"
REF_PID=$PID

# Both servers answer the same token with the same JSON (wxlogin's expires_at may have slid).
first=$(head -1 "$TOKENS" | cut -f1)
say "wxlogin:   $(curl -fsS "$WX/v1/session" -H "authorization: Bearer $first")"
say "reference: $(curl -fsS "$REF/v1/session" -H "authorization: Bearer $first")"

NPROC=$(nproc)
CPU=$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)
say "source: $COMMIT"
say "machine: nproc=$NPROC cpu=\"$CPU\" kernel=$(uname -r) date=$(date -u +%FT%TZ)"
say "store: $SESSIONS sessions in $SEED_DIR ($(du -sh "$SEED_DIR" | cut -f1)); wxlogin RSS at start ${WX_RSS_START:=$(rss_mib "$WX_PID")} MiB; reference RSS $(rss_mib "$REF_PID") MiB"
say "load: wrk -t$THREADS -c$CONNECTIONS, warm-up ${WARMUP}s, measured ${DURATION}s, pool $POOL tokens uniform"

# ---- GET /v1/session ---------------------------------------------------------------------------
for round in $(seq 1 "$ROUNDS"); do
  if ((round % 2)); then
    measure "wxlogin-$POOL-r$round" "$WX_PID" "$WX" "$POOL"
    measure "reference-$POOL-r$round" "$REF_PID" "$REF" "$POOL"
  else
    measure "reference-$POOL-r$round" "$REF_PID" "$REF" "$POOL"
    measure "wxlogin-$POOL-r$round" "$WX_PID" "$WX" "$POOL"
  fi
done

if [[ $PROFILE == 1 ]]; then
  # One extra window under perf (software clock: this VM has no hardware counters).
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${WARMUP}s" -s bench/lua/session.lua "$WX/v1/session" -- "$TOKENS" "$POOL" >/dev/null
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$((DURATION + 2))s" -s bench/lua/session.lua "$WX/v1/session" -- "$TOKENS" "$POOL" >"$RUN/profile.wrk.txt" &
  WRK_PID=$!
  sleep 1
  perf record -e cpu-clock -F 997 --call-graph dwarf,16384 -p "$WX_PID" -o "$RUN/perf.data" -- sleep "$DURATION" 2>"$RUN/perf.err" || true
  wait "$WRK_PID"
  perf report -i "$RUN/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null | head -80 >"$RUN/perf.flat.txt" || true
  say "profile: $RUN/perf.flat.txt"
fi

if [[ $EXTRA == 1 ]]; then
  # The whole store as the working set: the cache (200 000) holds a fifth of it.
  measure "wxlogin-all-$SESSIONS" "$WX_PID" "$WX" "$SESSIONS"
  measure "reference-all-$SESSIONS" "$REF_PID" "$REF" "$SESSIONS"
  # The same server with the cache off: every request reads the store. Calibrates syscr per miss.
  stop "$WX_PID"
  # The server's own cache counters (logged once at shutdown), cumulative over every load above.
  say "wxlogin session cache (server counters, all loads above): $(grep -o 'hits=[0-9]* misses=[0-9]*' "$RUN/wxlogin.err" | tail -1)"
  start wxlogin-nocache env WXLOGIN_SESSIONS__CACHE_CAPACITY=0 "$WXLOGIN" serve --config "$RUN/wxlogin.toml"
  WX="http://$ADDR"
  WX_PID=$PID
  measure "wxlogin-nocache-$POOL" "$WX_PID" "$WX" "$POOL"
  stop "$WX_PID"
  start wxlogin2 "$WXLOGIN" serve --config "$RUN/wxlogin.toml"
  WX="http://$ADDR"
  WX_PID=$PID
fi

if [[ $WHATIF == 1 ]]; then
  # Not a production setting: the same server with renew_interval = 1 h, to separate the cost of
  # sliding-renewal writes (default: at most one per session per 60 s) from the rest.
  stop "$WX_PID"
  start wxlogin-renew1h env WXLOGIN_SESSIONS__RENEW_INTERVAL=3600 "$WXLOGIN" serve --config "$RUN/wxlogin.toml"
  WX="http://$ADDR"
  WX_PID=$PID
  measure "wxlogin-renew1h-$POOL" "$WX_PID" "$WX" "$POOL"
  stop "$WX_PID"
  # ... and with the cache off too: the read path's cost per miss, without renewal writes.
  start wxlogin-renew1h-nocache env WXLOGIN_SESSIONS__RENEW_INTERVAL=3600 WXLOGIN_SESSIONS__CACHE_CAPACITY=0 \
    "$WXLOGIN" serve --config "$RUN/wxlogin.toml"
  WX="http://$ADDR"
  WX_PID=$PID
  measure "wxlogin-renew1h-nocache-$POOL" "$WX_PID" "$WX" "$POOL"
  measure "reference-$POOL-r$((ROUNDS + 1))" "$REF_PID" "$REF" "$POOL"
  stop "$WX_PID"
  start wxlogin3 "$WXLOGIN" serve --config "$RUN/wxlogin.toml"
  WX="http://$ADDR"
  WX_PID=$PID
fi

# ---- POST /v1/login ----------------------------------------------------------------------------
stop "$REF_PID"
[[ $LOGIN == 1 ]] || exit 0
python3 bench/gen_codes.py "$SIM" "$APPID" "$LOGIN_CODES" "$RUN/codes.txt" "bench-$(date +%s)" | tee -a "$RESULTS"
c0=$(ticks "$WX_PID"); s0=$(ticks "$SIM_PID"); m0=$(machine_busy)
load=$(cut -d' ' -f1-3 /proc/loadavg)
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${LOGIN_DURATION}s" --latency -s bench/lua/login.lua "$WX/v1/login" \
  -- "$RUN/codes.txt" "$THREADS" "$APPID" >"$RUN/login.txt"
c1=$(ticks "$WX_PID"); s1=$(ticks "$SIM_PID"); m1=$(machine_busy)
result=$(grep '^RESULT' "$RUN/login.txt" | sed 's/^RESULT //')
ok=$(sed -n 's/.*logins_ok=\([0-9]*\).*/\1/p' <<<"$result")
say "$(printf 'login %s wxlogin_cpu_us_per_login=%.0f simulator_cpu_us_per_login=%.0f machine_busy=%s loadavg_before=%s' \
  "$result" \
  "$(echo "($c1 - $c0) * 1000000 / $HZ / $ok" | bc -l)" \
  "$(echo "($s1 - $s0) * 1000000 / $HZ / $ok" | bc -l)" \
  "$(read -r b0 t0 <<<"$m0"; read -r b1 t1 <<<"$m1"; echo "scale=0; 100 * ($b1 - $b0) / ($t1 - $t0)" | bc)%" \
  "${load// //}")"
say "wxlogin RSS after the login run: $(rss_mib "$WX_PID") MiB"
say "results: $RESULTS"
