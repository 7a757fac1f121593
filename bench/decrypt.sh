#!/usr/bin/env bash
# /v1/decrypt throughput beside /v1/session on the same server, in the same run (issue 4).
#
#   bash bench/decrypt.sh            # after bench/run.sh built the release binary
#
# Starts `wxlogin simulate` and `wxlogin serve` (production settings, a fresh embedded store),
# logs BENCH_USERS (1000) simulated users in, fetches one user-info payload per user encrypted
# with that user's current session_key, then drives with wrk (64 connections, 2 threads):
# GET /v1/session with those users' tokens, and POST /v1/decrypt with (token, payload) pairs,
# each uniformly at random; warm-up, then a measured window. The decrypt path is the whole one:
# token verification, key-ring read from the store, at-rest opening, AES-CBC, full typed parse,
# watermark and rawData signature checks, JSON out. Loopback only; bounded in time; every process
# started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
USERS=${BENCH_USERS:-1000}
WARMUP=${BENCH_WARMUP:-5}
DURATION=${BENCH_DURATION:-20}
WXLOGIN=${WXLOGIN:-target/bench/release/wxlogin}
APPID=wx1234567890abcdef
SECRET=wxlogin-demo-secret-not-for-production
RUN=target/bench-data/decrypt-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$RUN"
[[ -x $WXLOGIN ]] || { echo "build first: bash bench/run.sh (or set WXLOGIN)"; exit 1; }
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk"; exit 1; }

RESULTS=$RUN/results.txt
# shellcheck source=lib.sh
source bench/lib.sh
run_wrk() {  # run_wrk LABEL SCRIPT URL ARGS…
  local label=$1 script=$2 url=$3; shift 3
  wrk -t2 -c64 -d"${WARMUP}s" -s "$script" "$url" -- "$@" >/dev/null
  wrk -t2 -c64 -d"${DURATION}s" --latency -s "$script" "$url" -- "$@" >"$RUN/$label.txt"
  say "$(printf '%-9s %s' "$label" "$(grep '^RESULT' "$RUN/$label.txt" | sed 's/^RESULT //')")"
}

start simulator "$WXLOGIN" simulate --listen 127.0.0.1:0
SIM=$ADDR
cat >"$RUN/wxlogin.toml" <<CONF
listen = "127.0.0.1:0"
data_dir = "$RUN/data"
[wechat]
api_base = "http://$SIM"
allow_http = true
[[apps]]
appid = "$APPID"
secret = "$SECRET"
CONF
start wxlogin "$WXLOGIN" serve --config "$RUN/wxlogin.toml"
WX=$ADDR
python3 bench/gen_decrypt.py "$SIM" "$WX" "$APPID" "$USERS" "$RUN/pairs.tsv"
cut -f1 "$RUN/pairs.tsv" >"$RUN/tokens.tsv"
say "machine: nproc=$(nproc) kernel=$(uname -r) date=$(date -u +%FT%TZ) source=$(git rev-parse --short HEAD) users=$USERS"
run_wrk session bench/lua/session.lua "http://$WX/v1/session" "$RUN/tokens.tsv" "$USERS"
run_wrk decrypt bench/lua/decrypt.lua "http://$WX/v1/decrypt" "$RUN/pairs.tsv"
s=$(sed -n 's/.*rps=\([0-9]*\).*/\1/p' "$RUN/session.txt" | tail -1)
d=$(grep '^RESULT' "$RUN/decrypt.txt" | sed -n 's/.*rps=\([0-9]*\).*/\1/p')
say "decrypt/session ratio: $(echo "scale=2; $d / $s" | bc) (goal >= 0.7)"
