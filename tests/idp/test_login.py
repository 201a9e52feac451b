"""The log-in pages: one generic failure, CSRF, throttling, TOTP, acting for an entity."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from urllib.parse import urlencode

import requests
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from idp import accounts
from tests.idp.conftest import Account, Registered
from tests.idp.helpers import (
    REDIRECT_URI,
    Browser,
    Live,
    add_person,
    form_posting_to,
    id_number,
    pkce_pair,
    redirect_params,
)
from tests.idp.test_token import code_request, secret_auth, token
from yiwang.database import utcnow

UNKNOWN = id_number(999)


def start(live: Live, rp: Registered, browser: Browser, scope: str = "openid profile",
          verifier_out: list[str] | None = None) -> requests.Response:
    verifier, challenge = pkce_pair()
    if verifier_out is not None:
        verifier_out.append(verifier)
    return browser.get("/authorize?" + urlencode({
        "response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT_URI,
        "scope": scope, "state": "s", "nonce": "n", "code_challenge": challenge,
        "code_challenge_method": "S256"}))


def visible_text(html: str) -> str:
    """The page without its per-request tokens (CSRF, interaction ids)."""
    html = re.sub(r'value="[^"]*"', "", html)
    return re.sub(r'action="[^"]*"', "", html)


def test_login_page_is_chinese_with_csrf_and_never_cached(live: Live, rp: Registered) -> None:
    page = start(live, rp, live.browser())
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "身份证件号码" in page.text and "密码" in page.text
    form = form_posting_to(page.text, page.url[len(live.url):])
    assert form.fields["csrf_token"]
    assert "<script" not in page.text and "style=" not in page.text


def test_wrong_password_and_unknown_account_look_the_same(live: Live, person: Account,
                                                          rp: Registered) -> None:
    browser = live.browser()
    wrong = browser.log_in(start(live, rp, browser), person.id_number, "not the password")
    unknown = browser.log_in(start(live, rp, browser), UNKNOWN, "not the password")
    malformed = browser.log_in(start(live, rp, browser), "12345", "not the password")
    assert wrong.status_code == unknown.status_code == malformed.status_code == 200
    assert "身份证件号码或密码不正确" in wrong.text
    assert visible_text(wrong.text) == visible_text(unknown.text) == visible_text(malformed.text)
    assert person.id_number not in wrong.text


def test_login_post_without_csrf_token_is_refused(live: Live, person: Account,
                                                  rp: Registered) -> None:
    browser = live.browser()
    page = start(live, rp, browser)
    response = browser.post(page.url, {"username": person.id_number, "password": "x"})
    assert response.status_code == 400
    assert "Location" not in response.headers


def test_login_continues_only_in_the_browser_that_started_it(live: Live, person: Account,
                                                             rp: Registered) -> None:
    page = start(live, rp, live.browser())
    stranger = live.browser()
    stranger.get("/login/whatever")  # obtain a CSRF cookie of its own
    response = stranger.get(page.url)
    assert response.status_code == 400
    assert "登录请求已失效" in response.text


def test_cancel_returns_access_denied(live: Live, rp: Registered) -> None:
    browser = live.browser()
    page = start(live, rp, browser)
    answer = redirect_params(browser.submit(page, "/cancel"))
    assert answer["error"] == "access_denied" and answer["state"] == "s"


def test_sso_cookie_is_httponly_and_lax(live: Live, person: Account, rp: Registered) -> None:
    browser = live.browser()
    done = browser.log_in(start(live, rp, browser), person.id_number)
    cookie = next(c for c in done.raw.headers.getlist("Set-Cookie")
                  if c.startswith("yiwang_sso="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # the issuer is plain http here


def test_online_guessing_is_throttled(live: Live, person: Account, rp: Registered) -> None:
    browser = live.browser()
    for _ in range(6):
        page = browser.log_in(start(live, rp, browser), person.id_number, "guess")
        assert page.status_code in (200, 429)
    blocked = browser.log_in(start(live, rp, browser), person.id_number)
    assert blocked.status_code == 429
    assert "尝试次数过多" in blocked.text
    # However the number is typed, it is the same account's throttle.
    full_width = person.id_number.translate(str.maketrans("0123456789X", "０１２３４５６７８９ｘ"))
    assert browser.log_in(start(live, rp, browser), full_width).status_code == 429
    # The delay is short at first: after it the real password works again.
    time.sleep(2.2)
    done = browser.log_in(start(live, rp, browser), person.id_number)
    assert "code" in redirect_params(done)


def test_totp_is_asked_after_the_password(live: Live, rp: Registered) -> None:
    number = id_number(42)
    add_person(live.runtime, number)
    with live.session() as session:
        found = accounts.find_person(session, live.runtime.keystore, number)
        accounts.enroll_totp(session, live.runtime.keystore, found, now=utcnow())
        secret = accounts.totp_secret_base32(live.runtime.keystore, found)
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    browser = live.browser()
    verifier: list[str] = []
    page = browser.log_in(start(live, rp, browser, verifier_out=verifier), number)
    assert page.status_code == 200 and 'name="code"' in page.text
    wrong = browser.submit(page, "/totp", code="000000")
    assert "动态验证码不正确" in wrong.text
    code = TOTP(key, 6, SHA1(), 30).generate(time.time()).decode()
    answer = redirect_params(browser.submit(wrong, "/totp", code=code))
    issued = token(live, code_request(answer["code"], verifier[0]), auth=secret_auth(rp)).json()
    payload = issued["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert claims["amr"] == ["pwd", "otp", "mfa"]


def test_person_chooses_to_act_for_an_entity(live: Live, person: Account,
                                             rp: Registered) -> None:
    with live.session() as session:
        accounts.create_entity(session, live.runtime.keystore, code="91350100M000100Y43",
                               name="示例科技有限公司", legal_rep_id_number=person.id_number,
                               now=utcnow())
    browser = live.browser()
    verifier: list[str] = []
    page = browser.log_in(start(live, rp, browser, "openid profile entity", verifier),
                          person.id_number)
    assert page.status_code == 200 and "选择办理身份" in page.text
    assert "示例科技有限公司" in page.text and "法定代表人" in page.text
    form = form_posting_to(page.text, "/entity")
    entity_id = re.search(r'name="acting" value="(\d+)"', page.text)
    assert entity_id is not None and form.fields["acting"] == "self"
    answer = redirect_params(browser.submit(page, "/entity", acting=entity_id.group(1)))
    issued = token(live, code_request(answer["code"], verifier[0]), auth=secret_auth(rp)).json()
    info = requests.get(live.url + "/userinfo", timeout=5,
                        headers={"Authorization": "Bearer " + issued["access_token"]}).json()
    assert info["entity"] == {"uscc": "91350100M000100Y43", "name": "示例科技有限公司",
                              "role": "legal_representative"}


def test_expired_agent_is_not_offered(live: Live, person: Account, rp: Registered) -> None:
    representative = id_number(43)
    add_person(live.runtime, representative)
    now = utcnow()
    with live.session() as session:
        accounts.create_entity(session, live.runtime.keystore, code="91110000600037341L",
                               name="过期代办公司", legal_rep_id_number=representative, now=now)
        accounts.add_agent(session, live.runtime.keystore, code="91110000600037341L",
                           id_number=person.id_number, until=accounts.china_date(now),
                           now=now)
        assert accounts.representations(session, person.person_id, now=now)
        later = now + dt.timedelta(days=1)
        assert accounts.representations(session, person.person_id, now=later) == []
    browser = live.browser()
    page = browser.log_in(start(live, rp, browser, "openid entity"), person.id_number)
    assert "选择办理身份" in page.text and "经办人" in page.text
