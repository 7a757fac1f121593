#!/usr/bin/env bash
# wxlogin as a gateway's auth server (issue 6, "Benchmarks"); written up in BENCHMARKS.md,
# "Backends trusting wxlogin (issue 6)".
#
#   bash bench/forward-auth.sh
#   BENCH_PROFILE=1 bash bench/forward-auth.sh   # plus a perf profile of each auth server
#
# 1. nginx `auth_request` with the shipped deploy/nginx/wxlogin-auth.conf (keep-alive to the
#    auth server, no auth cache) in front of a trivial app (an nginx `return 200` server block),
#    measured twice per round in the same run: once with the auth subrequest going to wxlogin
#    (`GET /v1/auth`, real token check against the seeded store), once going to a trivial server
#    that answers 200 to anything (bench/reference-server's `/v1/auth`: axum, like wxlogin).
#    req/s, p50/p99 through nginx, and CPU per request of nginx and of the auth server. The
#    order alternates between rounds. Goal: wxlogin ≥ 0.8 × the trivial throughput.
# 2. `POST /oauth2/introspect` (HTTP Basic service credentials, form `token`) straight to
#    wxlogin, and `GET /v1/session` in the same run as a yardstick.
#
# Tokens: BENCH_SESSIONS (20 000) sessions seeded into an embedded store by bench/seed (the
# server's own record_login), all drawn uniformly per request; they all fit the session cache,
# as a gateway's working set of active users would. wrk: 2 threads, 64 connections, warm-up
# BENCH_WARMUP (5 s), measured BENCH_DURATION (20 s), BENCH_ROUNDS (2) rounds. nginx runs one
# worker process. Everything listens on 127.0.0.1, every load is bounded by wrk -d, and every
# process started here is stopped on exit. Source: the working tree as it is (commit + dirty
# flag recorded).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

SESSIONS=${BENCH_SESSIONS:-20000}
WARMUP=${BENCH_WARMUP:-5}
DURATION=${BENCH_DURATION:-20}
ROUNDS=${BENCH_ROUNDS:-2}
PROFILE=${BENCH_PROFILE:-0}
NGINX=${BENCH_NGINX:-/usr/sbin/nginx}
APPID=wx1234567890abcdef
SECRET=wxlogin-demo-secret-not-for-production

RUN=$ROOT/target/bench-data/forward-auth-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RUN"
RESULTS=$RUN/results.txt
export CARGO_TARGET_DIR=$ROOT/target/bench
WXLOGIN=$CARGO_TARGET_DIR/release/wxlogin
TRIVIAL=$CARGO_TARGET_DIR/release/wxlogin-bench-reference
SEEDER=$CARGO_TARGET_DIR/release/wxlogin-bench-seed

# shellcheck source=lib.sh
source bench/lib.sh

command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
[[ -x $NGINX ]] || { apt-get update && apt-get install -y nginx; }
COMMIT="$(git rev-parse HEAD)$(git diff --quiet HEAD -- crates bench || echo ' + uncommitted changes')"
cargo build --release --bin wxlogin
(cd bench/reference-server && cargo build --release)
(cd bench/seed && cargo build --release)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- store, servers ----------------------------------------------------------------------------
TOKENS=$RUN/tokens.tsv
/usr/bin/time -f "seed: %e s" "$SEEDER" "$RUN/store" "$SESSIONS" "$TOKENS" "$APPID" >"$RUN/seed.log" 2>&1
start simulator "$WXLOGIN" simulate --listen 127.0.0.1:0
SIM=$ADDR
CLIENT_SECRET=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
(
  umask 077
  cat >"$RUN/wxlogin.toml" <<EOF
listen = "127.0.0.1:0"
data_dir = "$RUN/store"

[wechat]
api_base = "http://$SIM"
allow_http = true

[[apps]]
appid = "$APPID"
secret = "$SECRET"

[[introspection.clients]]
id = "bench"
secret = "$CLIENT_SECRET"
appids = ["$APPID"]
EOF
)
start wxlogin "$WXLOGIN" serve --config "$RUN/wxlogin.toml"
WX=$ADDR
WX_PID=$PID
start trivial "$TRIVIAL" /dev/null
TRIVIAL_ADDR=$ADDR
TRIVIAL_PID=$PID
curl -fsS "http://$WX/v1/session" -H "authorization: Bearer $(head -1 "$TOKENS" | cut -f1)" >/dev/null

say "source: $COMMIT"
say "machine: nproc=$(nproc) cpu=\"$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)\" kernel=$(uname -r) $($NGINX -v 2>&1) date=$(date -u +%FT%TZ) loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
say "busiest other processes at start: $(ps -eo pcpu,comm --sort=-pcpu | sed -n 2,6p | awk '{printf "%s %s%%; ", $2, $1}')"
say "== $SESSIONS sessions, uniform; wrk -t2 -c64, warm-up ${WARMUP}s, measured ${DURATION}s, $ROUNDS rounds"

# nginx_start NAME AUTH_ADDR: one nginx (one worker) running the shipped config, its auth
# upstream at AUTH_ADDR, its app a `return 200` server block; sets NGINX_ADDR, NGINX_PID.
nginx_start() {
  local name=$1 auth=$2 dir=$RUN/nginx-$1 port app_port
  rm -rf "$dir"
  mkdir -p "$dir"
  port=$(free_port)
  app_port=$(free_port)
  sed -e "s/server 127.0.0.1:8080;/server $auth;/" \
    -e "s/server 127.0.0.1:3000;/server 127.0.0.1:$app_port;/" \
    -e "s/listen 80;/listen 127.0.0.1:$port;/" \
    deploy/nginx/wxlogin-auth.conf >"$dir/site.conf"
  grep -q "server $auth;" "$dir/site.conf" && grep -q "listen 127.0.0.1:$port;" "$dir/site.conf" ||
    { echo "deploy/nginx/wxlogin-auth.conf changed shape: update bench/forward-auth.sh" >&2; exit 1; }
  cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  include $dir/site.conf;
  server {
    listen 127.0.0.1:$app_port;
    location / { return 200 "ok\n"; }
  }
}
EOF
  "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  NGINX_ADDR=127.0.0.1:$port
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://$NGINX_ADDR/" && return 0
    sleep 0.1
  done
  cat "$dir/error.log" >&2
  echo "nginx $name did not start" >&2
  exit 1
}

# window LABEL AUTH_PID NGINX_PID(or -) wrk ARGS...: one measured wrk run; CPU per request of
# nginx and of the auth server from /proc/PID/stat deltas.
window() {
  local label=$1 auth_pid=$2 nginx_pid=$3 a0 a1 n0=0 n1=0 result count
  shift 3
  a0=$(ticks "$auth_pid")
  [[ $nginx_pid == - ]] || n0=$(ticks "$nginx_pid")
  "$@" >"$RUN/$label.txt"
  a1=$(ticks "$auth_pid")
  [[ $nginx_pid == - ]] || n1=$(ticks "$nginx_pid")
  result=$(sed -n 's/^RESULT //p' "$RUN/$label.txt")
  count=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$result")
  ((count > 0)) || count=1
  say "$(printf '%-22s %s auth_cpu_us=%s nginx_cpu_us=%s loadavg=%s' "$label" "$result" \
    "$(echo "scale=1; ($a1 - $a0) * 1000000 / $HZ / $count" | bc)" \
    "$(echo "scale=1; ($n1 - $n0) * 1000000 / $HZ / $count" | bc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)")"
}

# through_nginx LABEL AUTH_ADDR AUTH_PID
through_nginx() {
  local label=$1 auth=$2 auth_pid=$3
  nginx_start "$label" "$auth"
  # Every request must pass the auth check and reach the app.
  curl -fsS "http://$NGINX_ADDR/orders" -H "authorization: Bearer $(head -1 "$TOKENS" | cut -f1)" | grep -q ok
  wrk -t2 -c64 -d"${WARMUP}s" -s bench/lua/session.lua "http://$NGINX_ADDR" -- "$TOKENS" "$SESSIONS" /orders >/dev/null
  window "$label" "$auth_pid" "$NGINX_PID" \
    wrk -t2 -c64 -d"${DURATION}s" --latency -s bench/lua/session.lua "http://$NGINX_ADDR" -- "$TOKENS" "$SESSIONS" /orders
  stop "$NGINX_PID"
}

for round in $(seq 1 "$ROUNDS"); do
  if ((round % 2)); then order="wxlogin trivial"; else order="trivial wxlogin"; fi
  for which in $order; do
    case $which in
      wxlogin) through_nginx "nginx+wxlogin-$round" "$WX" "$WX_PID" ;;
      trivial) through_nginx "nginx+trivial-$round" "$TRIVIAL_ADDR" "$TRIVIAL_PID" ;;
    esac
  done
done

# One more nginx window per auth server with perf sampling that server (software clock: this VM
# has no hardware counters): a flat profile by symbol, to say where the difference goes.
if [[ $PROFILE == 1 ]]; then
  for which in wxlogin trivial; do
    case $which in
      wxlogin) auth=$WX pid=$WX_PID ;;
      trivial) auth=$TRIVIAL_ADDR pid=$TRIVIAL_PID ;;
    esac
    nginx_start "profile-$which" "$auth"
    wrk -t2 -c64 -d"$((DURATION + 2))s" -s bench/lua/session.lua "http://$NGINX_ADDR" -- "$TOKENS" "$SESSIONS" /orders >"$RUN/profile-$which.wrk.txt" &
    wrk_pid=$!
    sleep 1
    perf record -e cpu-clock -F 997 -g -p "$pid" -o "$RUN/perf-$which.data" -- sleep "$DURATION" 2>"$RUN/perf-$which.err" || true
    wait "$wrk_pid"
    stop "$NGINX_PID"
    perf report -i "$RUN/perf-$which.data" --no-children --sort dso,symbol --stdio 2>/dev/null | head -120 >"$RUN/perf-$which.flat.txt" || true
    say "profile of $which behind nginx: $RUN/perf-$which.flat.txt"
  done
fi

# ---- introspection and /v1/session, straight to wxlogin ----------------------------------------
BASIC=$(printf 'bench:%s' "$CLIENT_SECRET" | base64 -w0)
for round in $(seq 1 "$ROUNDS"); do
  wrk -t2 -c64 -d"${WARMUP}s" -s bench/lua/introspect.lua "http://$WX" -- "$TOKENS" "$SESSIONS" "$BASIC" >/dev/null
  window "introspect-$round" "$WX_PID" - \
    wrk -t2 -c64 -d"${DURATION}s" --latency -s bench/lua/introspect.lua "http://$WX" -- "$TOKENS" "$SESSIONS" "$BASIC"
  window "session-$round" "$WX_PID" - \
    wrk -t2 -c64 -d"${DURATION}s" --latency -s bench/lua/session.lua "http://$WX" -- "$TOKENS" "$SESSIONS"
done
say "results: $RESULTS"
