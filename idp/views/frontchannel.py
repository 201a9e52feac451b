"""``/authorize`` and ``/logout``: where relying parties send the browser.

Both accept GET and POST from other sites, so they live in a blueprint
without the page CSRF check; neither changes anything a third party could
abuse: ``/authorize`` issues a code only to the client's registered redirect
URI, and ``/logout`` only shows a confirmation form (CSRF-protected, in the
``idp`` blueprint).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from flask import Blueprint, Response, render_template, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from idp import flow, logout, sessions
from idp.authorize import PageError, RedirectError, check_authorization_request
from idp.errors import InvalidRequest, ServerError
from idp.models import Client
from idp.views.common import (
    SESSION_COOKIE,
    TEMPLATES,
    clear_session_cookie,
    error_page,
    interaction_url,
    logged_out,
    no_store,
    now,
    provider,
    see_other,
    set_interaction_cookie,
)
from yiwang.database import begin_write, current_session

log = logging.getLogger("idp")

blueprint = Blueprint("idp_frontchannel_api", __name__, template_folder=TEMPLATES)


@blueprint.errorhandler(Exception)
def _unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        return error_page(InvalidRequest(error.description or ""), error.code or 400)
    log.exception("unexpected error on %s", request.path)
    return error_page(ServerError(), 500)


def request_parameters() -> Mapping[str, Sequence[str]]:
    """GET query or POST form (OIDC Core §3.1.2.1), never both mixed."""
    try:
        source = request.form if request.method == "POST" else request.args
        return {name: values for name, values in source.lists()}
    except RequestEntityTooLarge:
        raise PageError(InvalidRequest("The request is too large.")) from None


@blueprint.route("/authorize", methods=["GET", "POST"])
def authorize() -> Response:
    p = provider()
    session = current_session()
    moment = now()
    try:
        parameters = request_parameters()
        auth_request = flow.protect_login_hint(p, flow.apply_id_token_hint(
            session, p, check_authorization_request(session, parameters),
            parameters.get("id_token_hint", [None])[0], moment))
    except PageError as exc:
        return error_page(exc.error)
    except RedirectError as exc:
        return see_other(flow.error_uri(p, exc.redirect_uri, exc.state, exc.error))
    client = session.get(Client, auth_request.client_id)
    assert client is not None
    sso = sessions.find_session(session, request.cookies.get(SESSION_COOKIE), now=moment)
    step = flow.next_step(session, p, client, auth_request, sso, None, moment)
    if step is flow.Step.DONE:
        assert sso is not None
        begin_write(session)
        location = flow.finish(session, p, client, auth_request, sso, None, moment)
        session.commit()
        return see_other(location)
    if "none" in auth_request.prompt:
        return see_other(flow.error_uri(p, auth_request.redirect_uri, auth_request.state,
                                        flow.prompt_none_error(step)))
    begin_write(session)
    interaction, browser_secret = sessions.start_interaction(
        session, client_id=client.client_id, request=auth_request.to_json(), now=moment)
    session.commit()
    response = see_other(interaction_url(interaction.uid))
    set_interaction_cookie(response, interaction.uid, browser_secret)
    return response


@blueprint.route("/logout", methods=["GET", "POST"])
def end_session() -> Response:
    """RP-Initiated Logout 1.0 §2: validate, then ask the person to confirm.

    The question is skipped only when the id_token_hint names the very session
    this browser holds: the spec requires asking in every other case.
    """
    p = provider()
    session = current_session()
    moment = now()
    try:
        params = request_parameters()
        intent = logout.check_logout_request(session, p, params, now=moment)
    except PageError as exc:
        return error_page(exc.error)
    sso = sessions.find_session(session, request.cookies.get(SESSION_COOKIE), now=moment)
    if sso is None:
        # Nothing to end: go straight back (or say so).
        return logged_out(intent)
    if intent.hinted_sid is not None and intent.hinted_sid == sso.sid:
        begin_write(session)
        logout.end_sso(session, sso, now=moment)
        session.commit()
        response = logged_out(intent)
        clear_session_cookie(response)
        return response
    return no_store(Response(render_template(
        "idp/logout.html", intent=intent, client_name=intent.client_name)))
