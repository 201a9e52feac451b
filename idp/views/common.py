"""What the identity provider's views share: cookies, errors, caching, time."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from flask import Response, current_app, jsonify, render_template, request
from sqlalchemy.orm import Session

from idp import resources, sessions
from idp.errors import InvalidClient, InvalidToken, OAuthError
from idp.logout import LogoutIntent
from idp.provider import Provider
from yiwang.database import current_session, utcnow

log = logging.getLogger("idp")

TEMPLATES = str(Path(__file__).resolve().parent.parent / "templates")
SESSION_COOKIE = "yiwang_sso"
INTERACTION_COOKIE = "yiwang_interaction"

# What a person sees for each protocol error shown as a page.
PAGE_MESSAGES = {
    "invalid_client": "应用未注册或已停用",
    "invalid_request": "登录请求无效",
    "server_error": "服务暂时不可用",
}


def provider() -> Provider:
    found: Provider = current_app.extensions["idp"]
    return found


def now() -> dt.datetime:
    return utcnow()


def no_store(response: Response) -> Response:
    """Log-in pages and token responses must never be cached (RFC 6749 §5.1)."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def see_other(location: str) -> Response:
    """303: after a POST the browser follows with GET (and never re-posts)."""
    response = Response(status=303)
    response.headers["Location"] = location
    return no_store(response)


def set_session_cookie(response: Response, value: str) -> None:
    p = provider()
    response.set_cookie(SESSION_COOKIE, value, max_age=p.settings.session_ttl, path="/",
                        httponly=True, samesite="Lax", secure=p.secure_cookies)


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax",
                           secure=provider().secure_cookies)


def interaction_path(uid: str) -> str:
    return f"/login/{uid}"


def interaction_url(uid: str) -> str:
    return provider().issuer + interaction_path(uid)


def set_interaction_cookie(response: Response, uid: str, value: str) -> None:
    """Scoped to the interaction's path, so parallel log-ins in two tabs do not collide."""
    response.set_cookie(INTERACTION_COOKIE, value,
                        max_age=int(sessions.INTERACTION_TTL.total_seconds()),
                        path=interaction_path(uid), httponly=True, samesite="Lax",
                        secure=provider().secure_cookies)


def clear_interaction_cookie(response: Response, uid: str) -> None:
    response.delete_cookie(INTERACTION_COOKIE, path=interaction_path(uid), httponly=True,
                           samesite="Lax", secure=provider().secure_cookies)


def error_page(error: OAuthError, status: int = 400, *, message: str | None = None) -> Response:
    """An error that must not be redirected: shown to the person, code included."""
    current_session().rollback()
    message = message or PAGE_MESSAGES.get(error.error, "登录请求无法处理")
    response = Response(render_template("idp/error.html", message=message, error=error.error,
                                        description=error.description), status=status)
    return no_store(response)


def oauth_error_response(error: OAuthError) -> Response:
    """A protocol error on a JSON endpoint, as a Flask response."""
    settle(current_session(), error)
    body, headers = refusal(error, provider().issuer, path=request.path,
                            authorization=request.headers.get("Authorization"))
    response = jsonify(body)
    response.status_code = error.status
    response.headers.update(headers)
    return no_store(response)


def settle(session: Session, error: OAuthError) -> None:
    """Keep what the refusal itself changed (a revoked token family), drop the rest."""
    if error.persist:
        session.commit()
    else:
        session.rollback()


def refusal(error: OAuthError, realm: str, *, path: str,
            authorization: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """Body and headers of a protocol error (RFC 6749 §5.2, RFC 6750 §3); logs the serious ones."""
    body = {"error": error.error}
    if error.description:
        body["error_description"] = error.description
    headers = {}
    if isinstance(error, InvalidClient):
        headers["WWW-Authenticate"] = f'Basic realm="{realm}"'
    elif isinstance(error, InvalidToken) or path.endswith("/userinfo"):
        headers["WWW-Authenticate"] = resources.bearer_challenge(
            error, realm, authorization=authorization)
    if error.error in ("invalid_grant", "invalid_client") or error.persist:
        log.info("%s refused: %s (%s)", path, error.error, error.description)
    return body, headers


def logged_out(intent: LogoutIntent) -> Response:
    """Back to the relying party's post-logout URI, or a page saying it is done."""
    location = intent.redirect_location()
    if location is not None:
        return see_other(location)
    return no_store(Response(render_template("idp/logged_out.html",
                                             client_name=intent.client_name)))
