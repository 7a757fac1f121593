"""wechatpy, a WeChat SDK we did not write, must not be able to tell our simulator from WeChat.

wechatpy 1.8.18 adds an `access_token` query parameter to every call, jscode2session included;
the simulator must ignore it as WeChat does (protocol reference §1.9).
"""

import pytest
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from conftest import APPID, SECRET, VECTOR_A_APPID


def wechat_client(simulator, appid=APPID, secret=SECRET):
    # An explicit access_token stops wechatpy from fetching one from its hard-coded URL first.
    client = WeChatClient(appid, secret, access_token="dummy")
    client.API_BASE_URL = f"{simulator.base}/cgi-bin/"
    client.wxa.API_BASE_URL = f"{simulator.base}/"
    return client


def test_code_to_session_returns_the_users_identity_and_key(simulator):
    login = simulator.login("alice")
    session = wechat_client(simulator).wxa.code_to_session(login["code"])
    assert session["openid"] == login["openid"]
    assert len(session["session_key"]) == 24 and session["session_key"].endswith("==")
    assert len(session["unionid"]) == 28
    assert "errcode" not in session


def test_a_reused_code_is_40163(simulator):
    client = wechat_client(simulator)
    code = simulator.login("bob")["code"]
    client.wxa.code_to_session(code)
    with pytest.raises(WeChatClientException) as error:
        client.wxa.code_to_session(code)
    assert error.value.errcode == 40163


def test_a_garbage_code_is_40029(simulator):
    with pytest.raises(WeChatClientException) as error:
        wechat_client(simulator).wxa.code_to_session("not-a-code-from-wx-login-000000")
    assert error.value.errcode == 40029


def test_a_wrong_secret_is_refused(simulator):
    code = simulator.login("carol")["code"]
    with pytest.raises(WeChatClientException) as error:
        wechat_client(simulator, secret="wrong-secret").wxa.code_to_session(code)
    assert error.value.errcode == 40125


def test_the_fixed_user_of_vector_a_gets_its_published_key(simulator):
    login = simulator.login("band", appid=VECTOR_A_APPID)
    session = wechat_client(simulator, appid=VECTOR_A_APPID, secret="vector-a-secret").wxa.code_to_session(
        login["code"]
    )
    assert session == {
        "openid": "oGZUI0egBJY1zhBYw2KhdUfwVJJE",
        "session_key": "tiihtNczf5v6AKRyjwEUhQ==",
        "unionid": "ocMvos6NjeKLIBqg5Mr9QjxrP1FA",
    }


def test_stats_saw_every_exchange_wechatpy_made(simulator):
    calls = simulator.stats()["calls"]["jscode2session"]
    assert calls["total"] >= 5
    assert calls["errcodes"]["40163"] >= 1
    assert calls["errcodes"]["40029"] >= 1
