"""What every response shares: security headers, CSRF, error rendering.

Blueprints whose name ends in ``api`` speak JSON and authenticate with tokens
or client credentials, so they are exempt from CSRF and get JSON errors; all
other routes are pages: CSRF-checked on unsafe methods and shown HTML errors.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from typing import Any

from flask import Flask, Response, abort, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

log = logging.getLogger(__name__)

CSRF_COOKIE = "yiwang_csrf"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

# Sent with every response, pages and JSON alike.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
)
HSTS = ("Strict-Transport-Security", "max-age=31536000")

# Chinese wording for the HTTP errors a page visitor can meet.
PAGE_ERRORS = {
    400: "请求无效",
    403: "无权访问",
    404: "页面不存在",
    405: "请求方式不被允许",
    413: "上传的文件过大",
    429: "请求过于频繁，请稍后再试",
    500: "服务暂时不可用",
}


def is_api_request() -> bool:
    blueprint = request.blueprint or _blueprint_refusing_the_method() or ""
    return blueprint.endswith("api") or request.path.startswith("/api/")


def _blueprint_refusing_the_method() -> str | None:
    """The blueprint whose route has this path but not this method (then no rule matched)."""
    refused = request.routing_exception
    if not isinstance(refused, MethodNotAllowed) or not refused.valid_methods:
        return None
    adapter = current_app.url_map.bind_to_environ(request.environ)
    try:
        endpoint, _ = adapter.match(method=next(iter(refused.valid_methods)))
    except HTTPException:
        return None
    return str(endpoint).rpartition(".")[0] or None


def install(app: Flask, *, csrf_secret: bytes, secure_cookies: bool) -> None:
    app.after_request(_security_headers)
    app.register_error_handler(HTTPException, _render_http_error)
    app.register_error_handler(Exception, _render_unexpected_error)
    csrf = _Csrf(csrf_secret, secure_cookies)
    app.before_request(csrf.check)
    app.after_request(csrf.set_cookie)
    app.jinja_env.globals["csrf_token"] = csrf.token


def served_over_https(environ: dict[str, Any]) -> bool:
    return (environ.get("wsgi.url_scheme") == "https"
            or environ.get("HTTP_X_FORWARDED_PROTO") == "https")


def _security_headers(response: Response) -> Response:
    headers = response.headers
    for name, value in SECURITY_HEADERS:
        headers.setdefault(name, value)
    if served_over_https(request.environ):
        headers.setdefault(*HSTS)
    return response


SERVER_ERROR = {"error": "server_error",
                "error_description": "The server could not complete the request."}


def json_error(error: str, description: str, status: int) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def request_body() -> bytes:
    """The whole request body; 413 when it exceeds ``MAX_CONTENT_LENGTH``, chunked or not.

    A declared length over the limit is refused before reading. A chunked
    body has none, and Werkzeug's limited stream, read whole, returns its
    first ``MAX_CONTENT_LENGTH`` bytes without complaint: a body that fills
    the limit is taken to have been cut there.
    """
    data = request.get_data(cache=True)
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and request.content_length is None and len(data) >= limit:
        abort(413)
    return data


def _render_http_error(exc: HTTPException) -> Response | tuple[str, int]:
    status = exc.code or 500
    if is_api_request():
        code = (exc.name or "error").lower().replace(" ", "_")
        return json_error(code, exc.description or exc.name, status)
    message = PAGE_ERRORS.get(status, "请求无法处理")
    return render_template("yiwang/error.html", status=status, message=message), status


def _render_unexpected_error(exc: Exception) -> Response | tuple[str, int]:
    log.exception("unhandled error on %s %s", request.method, request.path)
    if is_api_request():
        return json_error(SERVER_ERROR["error"], SERVER_ERROR["error_description"], 500)
    return render_template("yiwang/error.html", status=500, message=PAGE_ERRORS[500]), 500


class _Csrf:
    """Signed double-submit tokens: no server state, valid on every app node.

    A random cookie identifies the browser; the form carries an HMAC of it
    under a secret derived from the master key, which an attacker's page can
    neither read nor compute.
    """

    def __init__(self, secret: bytes, secure: bool) -> None:
        self.secret = secret
        self.secure = secure

    def _mac(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()

    def _nonce(self) -> str:
        nonce = g.get("_csrf_nonce")
        if nonce is None:
            nonce = request.cookies.get(CSRF_COOKIE) or ""
            if len(nonce) != 43:
                nonce = secrets.token_urlsafe(32)
                g._csrf_new_nonce = True
            g._csrf_nonce = nonce
        return nonce

    def token(self) -> str:
        return self._mac(self._nonce())

    def check(self) -> Response | None:
        # No route for this method or path: the 405 or 404 says more than a form error.
        if request.method not in UNSAFE_METHODS or is_api_request() \
                or request.routing_exception is not None:
            return None
        cookie = request.cookies.get(CSRF_COOKIE) or ""
        submitted = request.form.get(CSRF_FIELD, "")
        if cookie and submitted and hmac.compare_digest(self._mac(cookie), submitted):
            return None
        log.info("CSRF check failed on %s", request.path)
        return Response(
            render_template("yiwang/error.html", status=400,
                            message="表单已过期，请返回上一页刷新后重试"),
            status=400,
        )

    def set_cookie(self, response: Response) -> Response:
        if g.get("_csrf_new_nonce"):
            response.set_cookie(CSRF_COOKIE, g._csrf_nonce, httponly=True,
                                samesite="Lax", secure=self.secure, path="/")
        return response
