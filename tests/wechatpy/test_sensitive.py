"""wechatpy, an SDK we did not write, reads the simulator's encrypted data and tokens.

The simulator's crypto is its own (protocol reference §5.1, §6, §7); here wechatpy 1.8.18's
`WeChatWxaCrypto` decrypts what `/sim/user-info` and `/sim/phone` hand the device, using the
session_key that wechatpy itself got from `code_to_session`, and its `check_wxa_signature`
accepts the rawData signature. Its token handling (fetch, auto-retry on 40001) runs against
`cgi-bin/token`, and the §5.1 login-state signature is computed here with Python's hmac.

The session runs with `session_key_rotation = "always"`: every `/sim/login` mints a new key,
so each test fetches encrypted data *after* the login whose key it decrypts with.
"""

import hashlib
import hmac
import json

import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.crypto import WeChatWxaCrypto
from wechatpy.exceptions import InvalidSignatureException, WeChatClientException
from wechatpy.utils import check_wxa_signature

from conftest import APPID, SECRET


class SimulatorClient(WeChatClient):
    """wechatpy's client, pointed at the simulator.

    wechatpy 1.8.18 hard-codes the token URL in `fetch_access_token`; this override only swaps
    the host and keeps wechatpy's own `_fetch_access_token` (request, errcode check, caching).
    """

    def __init__(self, base, appid=APPID, secret=SECRET):
        super().__init__(appid, secret)
        self.base = base
        self.API_BASE_URL = f"{base}/cgi-bin/"
        self.wxa.API_BASE_URL = f"{base}/"

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=f"{self.base}/cgi-bin/token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )

    def wxa_get(self, endpoint, params):
        return self.get(endpoint, params=params, api_base_url=f"{self.base}/")

    def wxa_post(self, endpoint, data):
        return self.post(endpoint, data=data, api_base_url=f"{self.base}/")


def login_state_signature(session_key):
    """§5.1, written independently of the simulator: HMAC-SHA256 keyed by the key *text*."""
    return hmac.new(session_key.encode(), b"", hashlib.sha256).hexdigest()


def session_for(simulator, client, user):
    """wx.login, then wechatpy's code_to_session; returns its reply."""
    return client.wxa.code_to_session(simulator.login(user)["code"])


@pytest.fixture()
def client(simulator):
    return SimulatorClient(simulator.base)


def test_wechatpy_decrypts_user_info_and_accepts_the_raw_data_signature(simulator, client):
    session = session_for(simulator, client, "erin")
    info = simulator.user_info("erin")

    check_wxa_signature(session["session_key"], info["rawData"], info["signature"])
    payload = WeChatWxaCrypto(session["session_key"], info["iv"], APPID).decrypt_message(
        info["encryptedData"]
    )
    assert payload["openId"] == session["openid"]
    assert payload["unionId"] == session["unionid"]
    assert payload["watermark"]["appid"] == APPID
    assert isinstance(payload["watermark"]["timestamp"], int)

    raw = json.loads(info["rawData"])
    assert "openId" not in raw and "unionId" not in raw
    assert raw == {key: payload[key] for key in raw}, "rawData is the payload minus identity"


def test_wechatpy_decrypts_the_old_phone_payload(simulator, client):
    session = session_for(simulator, client, "frank")
    button = simulator.phone("frank", phone="13712345678")
    payload = WeChatWxaCrypto(session["session_key"], button["iv"], APPID).decrypt_message(
        button["encryptedData"]
    )
    assert payload["phoneNumber"] == "13712345678"
    assert payload["purePhoneNumber"] == "13712345678"
    assert payload["countryCode"] == "86"
    assert payload["watermark"]["appid"] == APPID


def test_data_fetched_before_a_rotating_login_fails_under_the_new_key(simulator, client):
    old = session_for(simulator, client, "grace")
    info = simulator.user_info("grace")
    new = session_for(simulator, client, "grace")
    assert new["session_key"] != old["session_key"]
    with pytest.raises(InvalidSignatureException):
        check_wxa_signature(new["session_key"], info["rawData"], info["signature"])
    try:
        payload = WeChatWxaCrypto(new["session_key"], info["iv"], APPID).decrypt_message(
            info["encryptedData"]
        )
    except Exception:  # wechatpy surfaces bad padding / bad JSON as assorted exceptions
        payload = None
    assert payload is None or payload.get("openId") != old["openid"]
    check_wxa_signature(old["session_key"], info["rawData"], info["signature"])


def test_wechatpy_fetches_a_classic_token_and_gets_a_phone_number_with_it(simulator, client):
    before = simulator.stats()["calls"]["token"]["errcodes"].get("0", 0)
    # wechatpy adds access_token to every call, code_to_session too: the fetch happens there.
    session_for(simulator, client, "heidi")
    code = simulator.phone("heidi", phone="13600000001")["code"]

    reply = client.wxa_post("wxa/business/getuserphonenumber", {"code": code})
    assert reply["errcode"] == 0
    assert reply["phone_info"]["phoneNumber"] == "13600000001"
    assert reply["phone_info"]["countryCode"] == "86"
    assert reply["phone_info"]["watermark"]["appid"] == APPID
    assert simulator.stats()["calls"]["token"]["errcodes"]["0"] == before + 1
    token = client.access_token
    assert token.split("_", 1)[0].isdigit() and len(token) > 100

    with pytest.raises(WeChatClientException) as error:
        client.wxa_post("wxa/business/getuserphonenumber", {"code": code})
    assert error.value.errcode == 40029, "a phone code is single-use"


def test_wechatpy_recovers_from_a_revoked_token_by_fetching_again(simulator, client):
    session = session_for(simulator, client, "ivan")
    params = {
        "openid": session["openid"],
        "signature": login_state_signature(session["session_key"]),
        "sig_method": "hmac_sha256",
    }
    assert client.wxa_get("wxa/checksession", dict(params))["errcode"] == 0
    fetched = simulator.stats()["calls"]["token"]["errcodes"]["0"]

    assert simulator.control("/sim/tokens/revoke", {"appid": APPID})["revoked"] >= 1
    assert client.wxa_get("wxa/checksession", dict(params))["errcode"] == 0
    assert simulator.stats()["calls"]["token"]["errcodes"]["0"] == fetched + 1, (
        "wechatpy's auto-retry fetched exactly one new token"
    )


def test_reset_through_wechatpy_gives_the_key_the_device_now_seals_with(simulator, client):
    session = session_for(simulator, client, "judy")
    reply = client.wxa_get(
        "wxa/resetusersessionkey",
        {
            "openid": session["openid"],
            "signature": login_state_signature(session["session_key"]),
            "sig_method": "hmac_sha256",
        },
    )
    assert reply["errcode"] == 0 and reply["openid"] == session["openid"]
    new_key = reply["session_key"]
    assert new_key != session["session_key"]

    with pytest.raises(WeChatClientException) as error:
        client.wxa_get(
            "wxa/checksession",
            {
                "openid": session["openid"],
                "signature": login_state_signature(session["session_key"]),
                "sig_method": "hmac_sha256",
            },
        )
    assert error.value.errcode == 87009, "the old key died with the reset"

    info = simulator.user_info("judy")
    check_wxa_signature(new_key, info["rawData"], info["signature"])
    payload = WeChatWxaCrypto(new_key, info["iv"], APPID).decrypt_message(info["encryptedData"])
    assert payload["openId"] == session["openid"]
    assert simulator.control("/sim/check-session", {"appid": APPID, "user": "judy"}) == {
        "valid": False
    }


def test_a_wrong_secret_fails_the_token_fetch(simulator):
    client = SimulatorClient(simulator.base, secret="wrong-secret")
    with pytest.raises(WeChatClientException) as error:
        client.fetch_access_token()
    assert error.value.errcode == 40125


def test_stable_token_answers_wechatpy_style_get_with_43002(simulator):
    reply = requests.get(
        f"{simulator.base}/cgi-bin/stable_token",
        params={"grant_type": "client_credential", "appid": APPID, "secret": SECRET},
        timeout=5,
    ).json()
    assert reply["errcode"] == 43002
