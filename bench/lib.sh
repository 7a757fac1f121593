# Helpers shared by the benchmark scripts (bench/*.sh source this file): starting and stopping
# the processes under test, and reading their CPU time and memory from /proc. The sourcing
# script sets RUN (its output directory) and RESULTS (its results file) before calling them.
# Every process started with `start` is stopped when the script exits, however it exits.

# Never let the caller's WXLOGIN_* variables change the servers under test.
for v in $(env | sed -n 's/^\(WXLOGIN_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done

PIDS=()
stop_started() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
# (A script with more to tear down defines its own `cleanup`, calling stop_started first.)
cleanup() { stop_started; }
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$*" | tee -a "$RESULTS"; }

# start NAME CMD...: runs CMD in the background, waits for "listening on ADDR", sets ADDR and PID.
start() {
  local name=$1
  shift
  : >"$RUN/$name.out" # exists before the first look below, however the child is scheduled
  "$@" >"$RUN/$name.out" 2>"$RUN/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 600); do
    ADDR=$(sed -n 's/^listening on \(.*\)$/\1/p' "$RUN/$name.out" | head -1)
    [[ -n $ADDR ]] && return 0
    kill -0 "$PID" 2>/dev/null || { tail -5 "$RUN/$name.err" >&2; echo "$name died" >&2; exit 1; }
    sleep 0.1
  done
  echo "$name did not start" >&2
  exit 1
}

# stop PID: stops a process started here and forgets it (a later cleanup must not signal a
# reused pid).
stop() {
  local keep=() p
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime + stime
rss_mib() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
# "busy total" jiffies of the whole machine, for the share of it that was busy in a window.
machine_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
HZ=$(getconf CLK_TCK)
