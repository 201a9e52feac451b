"""JSON protocol endpoints: discovery, JWKS, userinfo, introspection, revocation.

The token endpoint is plain WSGI, in front of Flask: ``idp.views.token``.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from idp import clients, resources
from idp.discovery import metadata
from idp.errors import InvalidClient, InvalidRequest, OAuthError, UnsupportedTokenType
from idp.models import Client
from idp.views import forms
from idp.views.common import no_store, now, oauth_error_response, provider
from yiwang.database import begin_write, current_session

blueprint = Blueprint("idp_api", __name__)


@blueprint.errorhandler(OAuthError)
def _oauth_error(error: OAuthError) -> Response:
    return oauth_error_response(error)


@blueprint.errorhandler(RequestEntityTooLarge)
def _too_large(_error: RequestEntityTooLarge) -> Response:
    return oauth_error_response(InvalidRequest("The request body is too large."))


def read_form() -> dict[str, str]:
    return forms.read_form(request.environ)


def json_no_store(body: dict[str, Any]) -> Response:
    return no_store(jsonify(body))


def authenticated_client(form: dict[str, str], endpoint: str) -> Client:
    """RFC 6749 §2.3: the calling client (an assertion's aud: issuer, token or this endpoint)."""
    p = provider()
    credentials = clients.parse_credentials(request.headers.get("Authorization"), form)
    return clients.authenticate(current_session(), credentials,
                                audiences=(p.issuer, p.url("token_endpoint"), p.url(endpoint)),
                                now=now(), cache=p.clients)


@blueprint.get("/.well-known/openid-configuration")
def discovery() -> Response:
    response = jsonify(metadata(provider()))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blueprint.get("/jwks.json")
def jwks() -> Response:
    response = jsonify(provider().keys.jwks(current_session(), now=now()))
    response.headers["Cache-Control"] = "public, max-age=60"
    return response


def bearer_token() -> str:
    """RFC 6750 §2.1 only: the token travels in the Authorization header."""
    in_body = request.method == "POST" and request.mimetype == forms.FORM_CONTENT_TYPE \
        and "access_token" in request.form
    if "access_token" in request.args or in_body:
        raise InvalidRequest("Send the access token in the Authorization header only.")
    return resources.bearer_token(request.headers.get("Authorization"))


@blueprint.route("/userinfo", methods=["GET", "POST"])
def userinfo() -> Response:
    claims = resources.userinfo(current_session(), provider(), bearer_token(), now())
    return json_no_store(claims)


@blueprint.route("/introspect", methods=["GET", "POST"])
def introspect() -> Response:
    form = read_form()
    client = authenticated_client(form, "introspection_endpoint")
    if client.public:
        raise InvalidClient("Public clients cannot introspect tokens.")
    if not form.get("token"):
        raise InvalidRequest("token is required.")
    answer = resources.introspect(current_session(), provider(), client, form["token"], now())
    current_session().commit()
    return json_no_store(answer)


@blueprint.route("/revoke", methods=["GET", "POST"])
def revoke() -> Response:
    form = read_form()
    client = authenticated_client(form, "revocation_endpoint")
    if not form.get("token"):
        raise InvalidRequest("token is required.")
    hint = form.get("token_type_hint")
    if hint is not None and hint not in resources.TOKEN_TYPE_HINTS:
        raise UnsupportedTokenType("token_type_hint must be access_token or refresh_token.")
    session = current_session()
    begin_write(session)
    resources.revoke(session, provider(), client, form["token"], now())
    session.commit()
    return no_store(Response(status=200))
