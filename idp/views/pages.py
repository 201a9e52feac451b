"""Log-in pages: password, TOTP, whom to act for, consent, logout confirmation.

Every step is ``/login/<uid>...`` and works only in the browser that started
the authorization (a cookie scoped to that path). GET shows whatever the
authorization still needs; each POST does one step and answers 303, either
back to ``/login/<uid>`` or, when nothing is missing, to the client with the
code.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any

from flask import Blueprint, Response, render_template, request
from sqlalchemy.orm import Session

from idp import accounts, flow, logout, sessions
from idp.authorize import AuthorizationRequest, PageError
from idp.errors import AccessDenied, InvalidRequest
from idp.identifiers import ric
from idp.models import Client, Interaction, Person
from idp.throttle import ACCOUNT, ADDRESS
from idp.views.common import (
    INTERACTION_COOKIE,
    SESSION_COOKIE,
    TEMPLATES,
    clear_interaction_cookie,
    clear_session_cookie,
    error_page,
    interaction_url,
    logged_out,
    no_store,
    now,
    provider,
    see_other,
    set_session_cookie,
)
from yiwang.database import begin_write, current_session

log = logging.getLogger("idp")

blueprint = Blueprint("idp", __name__, template_folder=TEMPLATES)

MESSAGES = {
    "failed": "身份证件号码或密码不正确。",
    "totp_failed": "动态验证码不正确或已使用，请重新输入。",
    "throttled": "尝试次数过多，请 {seconds} 秒后再试。",
}
SCOPE_LABELS = {
    "openid": "确认您的身份（匿名标识）",
    "profile": "姓名",
    "id_number": "身份证件号码（或统一社会信用代码）",
    "entity": "您所代表的单位及身份",
}


@blueprint.after_request
def _never_cache(response: Response) -> Response:
    return no_store(response)


class LoginStep:
    """What one log-in page request works on: interaction, its request, client, session."""

    def __init__(self, session: Session, interaction: Interaction, client: Client,
                 moment: dt.datetime) -> None:
        self.session = session
        self.interaction = interaction
        self.now = moment
        self.request = AuthorizationRequest.from_json(interaction.request)
        self.client = client
        self.sso = sessions.find_session(session, request.cookies.get(SESSION_COOKIE),
                                         now=moment)
        self.new_cookie: str | None = None

    def next(self) -> flow.Step:
        return flow.next_step(self.session, provider(), self.client, self.request, self.sso,
                              self.interaction, self.now)

    def advance(self) -> Response:
        """After a successful step: the next page, or the client with the code."""
        if self.next() is flow.Step.DONE:
            assert self.sso is not None
            uid = self.interaction.uid
            location = flow.finish(self.session, provider(), self.client, self.request,
                                   self.sso, self.interaction, self.now)
            self.session.commit()
            response = see_other(location)
            clear_interaction_cookie(response, uid)
        else:
            self.session.commit()
            response = see_other(interaction_url(self.interaction.uid))
        if self.new_cookie is not None:
            set_session_cookie(response, self.new_cookie)
        return response

    def begin_writes(self) -> None:
        """The reads are done: hold the write lock from here (see yiwang.database.begin_write)."""
        begin_write(self.session)

    def authenticated(self, person: Person, amr: list[str]) -> None:
        self.sso, self.new_cookie = sessions.authenticate_session(
            self.session, current=self.sso, person=person, amr=amr, now=self.now,
            ttl=provider().session_ttl)
        self.interaction.session_sid = self.sso.sid
        self.interaction.pending_person_id = None

    def deny(self, description: str) -> Response:
        uid = self.interaction.uid
        self.begin_writes()
        location = flow.error_uri(provider(), self.request.redirect_uri, self.request.state,
                                  AccessDenied(description))
        self.session.delete(self.interaction)
        self.session.commit()
        response = see_other(location)
        clear_interaction_cookie(response, uid)
        return response


def load(uid: str) -> LoginStep | Response:
    """The live interaction of this browser with an enabled client, or the error page."""
    session = current_session()
    moment = now()
    interaction = sessions.find_interaction(session, uid, request.cookies.get(INTERACTION_COOKIE),
                                            now=moment)
    if interaction is None:
        return error_page(InvalidRequest("The log-in request has expired or belongs to "
                                         "another browser."), 400, message="登录请求已失效")
    client = session.get(Client, interaction.client_id)
    if client is None or client.disabled_at is not None:
        return error_page(InvalidRequest("The client is unknown or disabled."), 400)
    return LoginStep(session, interaction, client, moment)


def render_step(step: LoginStep, *, message: str | None = None, status: int = 200) -> Response:
    current = step.next()
    if current is flow.Step.DONE:
        return step.advance()
    context: dict[str, Any] = {"uid": step.interaction.uid, "client": step.client,
                               "message": message}
    if current is flow.Step.LOGIN:
        template = "idp/login.html"
    elif current is flow.Step.TOTP:
        template = "idp/totp.html"
    elif current is flow.Step.ENTITY:
        assert step.sso is not None
        person = step.session.get(Person, step.sso.person_id)
        context["person"] = person
        context["options"] = accounts.representations(step.session, step.sso.person_id,
                                                      now=step.now)
        template = "idp/entity.html"
    else:
        context["scopes"] = [(s, SCOPE_LABELS.get(s, s)) for s in step.request.scope]
        template = "idp/consent.html"
    return Response(render_template(template, **context), status=status)


@blueprint.get("/login/<uid>")
def show(uid: str) -> Response:
    step = load(uid)
    return step if isinstance(step, Response) else render_step(step)


def _typed_id_number(value: str) -> str:
    """The typed ID number, canonical when valid: every spelling of a number
    (full-width digits, spaces, a lower-case x) shares the account's throttle."""
    value = value[:64]
    try:
        return ric.validate(value)
    except ValueError:
        return re.sub(r"[\s-]", "", value).upper()


@blueprint.post("/login/<uid>")
def password(uid: str) -> Response:
    step = load(uid)
    if isinstance(step, Response):
        return step
    if step.next() is not flow.Step.LOGIN:
        return render_step(step)
    p = provider()
    session = step.session
    username = _typed_id_number(request.form.get("username", ""))
    secret = request.form.get("password", "")
    session.commit()  # the throttle's write must open its own transaction
    wait = p.throttle.attempt(session, [(ACCOUNT, username), (ADDRESS, _address())], now=step.now)
    session.commit()
    if wait:
        return _throttled(step, wait)
    person = accounts.lookup_person(session, p.keystore, username)
    session.commit()  # no read transaction held across the slow hash
    if not accounts.verify_password(person, secret):
        log.info("log-in failed for %s", ric.mask(username) if len(username) == 18 else "?")
        return render_step(step, message=MESSAGES["failed"])
    assert person is not None
    step.begin_writes()
    p.throttle.succeeded(session, ACCOUNT, username)
    p.throttle.forgive_one(session, ADDRESS, _address())
    if person.totp_sealed is not None:
        step.interaction.pending_person_id = person.id
        session.commit()
        return see_other(interaction_url(uid))
    step.authenticated(person, ["pwd"])
    log.info("log-in of %s for client %s", person.id_number_masked, step.client.client_id)
    return step.advance()


@blueprint.post("/login/<uid>/totp")
def totp(uid: str) -> Response:
    step = load(uid)
    if isinstance(step, Response):
        return step
    person_id = step.interaction.pending_person_id
    if person_id is None:
        return render_step(step)
    p = provider()
    session = step.session
    session.commit()
    wait = p.throttle.attempt(session, [(ACCOUNT, f"totp:{person_id}"), (ADDRESS, _address())],
                              now=step.now)
    session.commit()
    if wait:
        return _throttled(step, wait)
    step.begin_writes()
    person = session.get(Person, person_id)
    code = request.form.get("code", "").strip()[:16]
    if person is None or not accounts.verify_totp(session, p.keystore, person, code, now=step.now):
        session.commit()
        return render_step(step, message=MESSAGES["totp_failed"])
    p.throttle.succeeded(session, ACCOUNT, f"totp:{person_id}")
    step.authenticated(person, ["pwd", "otp", "mfa"])
    return step.advance()


@blueprint.post("/login/<uid>/entity")
def choose_entity(uid: str) -> Response:
    step = load(uid)
    if isinstance(step, Response):
        return step
    if step.next() is not flow.Step.ENTITY or step.sso is None:
        return render_step(step)
    choice = request.form.get("acting", "")
    step.begin_writes()
    if choice == "self":
        step.interaction.acting = {"kind": "self"}
        return step.advance()
    options = accounts.representations(step.session, step.sso.person_id, now=step.now)
    chosen = next((o for o in options if str(o.entity_id) == choice), None)
    if chosen is None:
        return render_step(step, message="请选择办理身份。", status=400)
    step.interaction.acting = {"kind": "entity", **chosen.as_dict()}
    return step.advance()


@blueprint.post("/login/<uid>/consent")
def consent(uid: str) -> Response:
    step = load(uid)
    if isinstance(step, Response):
        return step
    if step.next() is not flow.Step.CONSENT or step.sso is None:
        return render_step(step)
    if request.form.get("decision") != "allow":
        return step.deny("The person declined to share the requested information.")
    step.begin_writes()
    step.interaction.consented = True
    flow.grant_consent(step.session, step.client, step.sso.person_id, step.request.scope,
                       now=step.now)
    return step.advance()


@blueprint.post("/login/<uid>/cancel")
def cancel(uid: str) -> Response:
    step = load(uid)
    if isinstance(step, Response):
        return step
    return step.deny("The person cancelled the log-in.")


@blueprint.post("/logout/confirm")
def confirm_logout() -> Response:
    """The person confirmed: end the SSO session, revoke its grants, go back."""
    session = current_session()
    moment = now()
    params = {name: [value] for name, value in request.form.items()
              if name in ("client_id", "post_logout_redirect_uri", "state")}
    try:
        intent = logout.check_logout_request(session, provider(), params, now=moment)
    except PageError as exc:  # the form was tampered with
        return error_page(exc.error)
    sso = sessions.find_session(session, request.cookies.get(SESSION_COOKIE), now=moment)
    if sso is not None:
        begin_write(session)
        logout.end_sso(session, sso, now=moment)
        session.commit()
        log.info("logout of session %s…", sso.sid[:8])
    response = logged_out(intent)
    clear_session_cookie(response)
    return response


def _throttled(step: LoginStep, wait: dt.timedelta) -> Response:
    """429 with the wait in whole seconds, rounded up (never "0 seconds")."""
    seconds = max(1, int(wait.total_seconds() + 0.999))
    return render_step(step, status=429, message=MESSAGES["throttled"].format(seconds=seconds))


def _address() -> str:
    return request.remote_addr or "unknown"
