-- Spreads one wrk load over several servers (several wxlogin instances, no load balancer): wrk
-- thread i connects to address i mod N, so run as many threads as addresses (or a multiple).
-- One wrk process keeps the latency percentiles exact over all instances together.
--
-- Environment: BENCH_ADDRS="127.0.0.1:P1,127.0.0.1:P2,..." and BENCH_SCRIPT, the script that
-- builds the requests (bench/lua/session.lua or bench/lua/login.lua); arguments after `--` are
-- that script's.
dofile(os.getenv("BENCH_SCRIPT"))

local inner_setup = setup
local addrs = {}
for host, port in os.getenv("BENCH_ADDRS"):gmatch("([^,]+):(%d+)") do
  addrs[#addrs + 1] = wrk.lookup(host, port)[1]
end
local assigned = 0

function setup(thread)
  thread.addr = addrs[assigned % #addrs + 1]
  assigned = assigned + 1
  if inner_setup then inner_setup(thread) end
end
