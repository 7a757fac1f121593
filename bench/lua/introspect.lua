-- POST /oauth2/introspect (RFC 7662) with a token drawn uniformly at random per request, as a
-- business backend holding service credentials would send it.
-- Args (after `--`): TOKENS.tsv COUNT BASIC: the first COUNT lines are the pool; BASIC is the
-- base64 of "id:secret" for the Authorization header.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local pool = {}
inactive = 0

function init(args)
  local want = tonumber(args[2])
  local basic = args[3]
  for line in io.lines(args[1]) do
    local token = line:match("^([^\t]+)")
    local body = "token=" .. token
    pool[#pool + 1] = "POST /oauth2/introspect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      .. "Authorization: Basic " .. basic .. "\r\n"
      .. "Content-Type: application/x-www-form-urlencoded\r\n"
      .. "Content-Length: " .. #body .. "\r\n\r\n" .. body
    if #pool >= want then break end
  end
  if #pool < want then
    error("token file has " .. #pool .. " tokens, fewer than " .. want)
  end
  math.randomseed(os.time() * 1000 + id * 7919)
  for _ = 1, 10 do math.random() end
end

function request()
  return pool[math.random(#pool)]
end

-- Every seeded token is live: an answer without "active":true is a failure of the run.
function response(status, headers, body)
  if status ~= 200 or not body:find('"active":true', 1, true) then inactive = inactive + 1 end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  local not_active = 0
  for _, thread in ipairs(threads) do not_active = not_active + thread:get("inactive") end
  io.write(string.format(
    "RESULT requests=%d seconds=%.2f rps=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f non2xx=%d not_active=%d socket_errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, not_active, e.connect + e.read + e.write + e.timeout))
end
