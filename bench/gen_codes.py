#!/usr/bin/env python3
"""Pre-generates N login codes from the simulator's POST /sim/login, one per line.

Usage: gen_codes.py SIM_ADDR APPID N OUT [PREFIX]. Each code belongs to a distinct user
(PREFIX-i), so no per-user rate limit of the simulator applies. Loopback only, bounded by N.
"""
import http.client, json, sys, threading

addr, appid, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
prefix = sys.argv[5] if len(sys.argv) > 5 else "bench-login"
host, port = addr.rsplit(":", 1)
assert host in ("127.0.0.1", "localhost", "::1"), "loopback only"
THREADS = 4
codes = [None] * n

def work(t):
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    for i in range(t, n, THREADS):
        body = json.dumps({"appid": appid, "user": f"{prefix}-{i}"})
        conn.request("POST", "/sim/login", body, {"content-type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise SystemExit(f"/sim/login: {resp.status} {data[:200]!r}")
        codes[i] = json.loads(data)["code"]
    conn.close()

threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
for th in threads: th.start()
for th in threads: th.join()
with open(out, "w") as f:
    f.write("\n".join(c for c in codes if c) + "\n")
print(f"{sum(1 for c in codes if c)} codes written to {out}")
