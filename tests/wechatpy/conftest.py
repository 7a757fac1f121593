"""Starts the real `wxlogin simulate` process for the wechatpy compatibility suite."""

import os
import subprocess
import tempfile

import pytest
import requests

APPID = "wx0a1b2c3d4e5f6071"
SECRET = "wechatpy-compat-secret-7f3e"
VECTOR_A_APPID = "wx4f4bc4dec97d474b"

CONFIG = f"""
seed = 11
session_key_rotation = "always"

[[apps]]
appid = "{APPID}"
secret = "{SECRET}"
open_platform = "compat-group"

[[apps]]
appid = "{VECTOR_A_APPID}"
secret = "vector-a-secret"

[[fixed_users]]
appid = "{VECTOR_A_APPID}"
user = "band"
openid = "oGZUI0egBJY1zhBYw2KhdUfwVJJE"
unionid = "ocMvos6NjeKLIBqg5Mr9QjxrP1FA"
session_key = "tiihtNczf5v6AKRyjwEUhQ=="
"""


class Simulator:
    def __init__(self, base):
        self.base = base

    def login(self, user, appid=APPID):
        """What wx.login() hands the mini-program: a fresh code."""
        reply = requests.post(f"{self.base}/sim/login", json={"appid": appid, "user": user}, timeout=5)
        reply.raise_for_status()
        return reply.json()

    def control(self, path, body):
        """A POST to the simulator's control API; returns the JSON reply."""
        reply = requests.post(f"{self.base}{path}", json=body, timeout=5)
        reply.raise_for_status()
        return reply.json()

    def user_info(self, user, appid=APPID):
        """What wx.getUserInfo hands the mini-program: encryptedData, iv, rawData, signature."""
        return self.control("/sim/user-info", {"appid": appid, "user": user})

    def phone(self, user, phone=None, appid=APPID):
        """What the getPhoneNumber button hands the mini-program: code, encryptedData, iv."""
        body = {"appid": appid, "user": user}
        if phone is not None:
            body["phone"] = phone
        return self.control("/sim/phone", body)

    def stats(self):
        return requests.get(f"{self.base}/sim/stats", timeout=5).json()


@pytest.fixture(scope="session")
def simulator():
    binary = os.environ.get("WXLOGIN_BIN")
    if not binary:
        pytest.fail("WXLOGIN_BIN must name the wxlogin binary (scripts/test.sh sets it)")
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as config:
        config.write(CONFIG)
    process = subprocess.Popen(
        [binary, "simulate", "--listen", "127.0.0.1:0", "--config", config.name],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline().strip()
        assert first.startswith("listening on "), f"unexpected first line: {first!r}"
        yield Simulator("http://" + first.removeprefix("listening on "))
    finally:
        process.terminate()
        process.wait(timeout=10)
        os.unlink(config.name)
