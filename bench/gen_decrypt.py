#!/usr/bin/env python3
"""Logs N simulated users into wxlogin and fetches, for each, a user-info payload that the
simulator encrypted with that user's current session_key: what a mini-program would send to
/v1/decrypt. Writes one line per user: TOKEN<TAB>JSON-BODY.

Usage: gen_decrypt.py SIM_ADDR WX_ADDR APPID N OUT. Loopback only, bounded by N.
"""
import http.client, json, sys

sim, wx, appid, n, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
for addr in (sim, wx):
    assert addr.rsplit(":", 1)[0] in ("127.0.0.1", "localhost"), "loopback only"


def post(addr, path, body, headers=None):
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("POST", path, json.dumps(body), {"content-type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"{path}: {resp.status} {data[:200]!r}")
    return json.loads(data)


with open(out, "w") as f:
    for i in range(n):
        user = f"bench-decrypt-{i}"
        code = post(sim, "/sim/login", {"appid": appid, "user": user})["code"]
        token = post(wx, "/v1/login", {"code": code, "appid": appid})["token"]
        info = post(sim, "/sim/user-info", {"appid": appid, "user": user})
        body = {"kind": "user_info", "encrypted_data": info["encryptedData"], "iv": info["iv"],
                "raw_data": info["rawData"], "signature": info["signature"]}
        f.write(f"{token}\t{json.dumps(body, separators=(',', ':'))}\n")
print(f"{n} users logged in, one user-info payload each")
