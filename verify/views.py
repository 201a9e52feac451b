"""Verifier pages and API: ``/v/<token>``, ``/verify``, ``/api/v1/verify``, the trust list.

* ``verify`` (pages, Simplified Chinese, CSRF-checked): ``GET /v/<token>``
  is the URL in every QR code, opened by a phone camera; ``GET /verify``
  offers an upload (PDF, or a photo or screenshot of the code) and
  ``POST /verify`` shows the same result page.
* ``verify_api`` (JSON, no cookies): ``POST /api/v1/verify`` takes a file
  (multipart ``file``, or a raw ``application/pdf`` / ``image/*`` body) or
  the text of a code (``{"text": ...}``) and answers the verdict as JSON;
  ``GET /trust-list.jws`` serves the signed trust list.

Verdicts are never cached (``no-store``). A request body larger than the
configured limit is refused with 413 from its Content-Length, before any of
it is read; a chunked one without a length, once it reaches the limit.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
)

from license_vault.validity import CHINA
from verify import trust_list
from verify.errors import VerifyError
from verify.services import Verifier, verification_time
from verify.verdict import Outcome, QrVerdict, Reason, Verdict
from yiwang.database import current_session, utcnow
from yiwang.json_bodies import json_body
from yiwang.web import request_body

__all__ = ["FACET_LABELS", "api", "init_app", "pages"]

log = logging.getLogger(__name__)

pages = Blueprint("verify", __name__, template_folder="templates", static_folder="static",
                  static_url_path="/static/verify")
api = Blueprint("verify_api", __name__)

FACET_LABELS = {
    "well_formed": "格式", "signed": "电子签名", "intact": "签名完整",
    "covers_document": "签署后未被修改", "trusted": "签名人可信",
    "certificate_good_at_signing": "签名证书（签署时）", "known_key": "签名密钥",
    "signature": "二维码签名", "in_vault": "证照库记录", "matches_vault": "与库中记录一致",
    "seal_ok": "SM2 电子印章", "status": "证照状态", "in_force": "有效期限",
}
OUTCOME_LABELS = {Outcome.PASSED: "通过", Outcome.FAILED: "未通过", Outcome.NOT_CHECKED: "未检查"}
JSON_MEMBERS = frozenset({"text", "at"})


def init_app(app: Flask) -> None:
    app.register_blueprint(pages)
    app.register_blueprint(api)


def _verifier() -> Verifier:
    runtime = current_app.extensions["yiwang"]
    return Verifier(current_session(), runtime.keystore, issuer=runtime.settings.issuer)


def _refuse_oversized() -> None:
    """413 from the declared length, before a byte of the body is read."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        abort(413)


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


pages.after_request(_no_store)


# -- pages ----------------------------------------------------------------------------------------


@pages.get("/v/<token>")
def scanned(token: str) -> tuple[str, int]:
    issuer = current_app.extensions["yiwang"].settings.issuer
    verdict = _verifier().verify_qr(f"{issuer}/v/{token}")
    return _page(verdict)


@pages.get("/verify")
def upload_form() -> str:
    return render_template("verify/upload.html", max_mb=_max_mb())


@pages.post("/verify")
def upload() -> tuple[str, int]:
    _refuse_oversized()
    verifier = _verifier()
    uploaded = request.files.get("file")
    text = request.form.get("text", "").strip()
    if uploaded is not None and uploaded.filename:
        verdict = verifier.verify_file(uploaded.read())
    elif text:
        verdict = verifier.verify_qr(text)
    else:
        return render_template("verify/upload.html", max_mb=_max_mb(),
                               message="请选择文件，或粘贴二维码内容。"), 400
    return _page(verdict)


def _page(verdict: Verdict) -> tuple[str, int]:
    reason = verdict.bottom_line
    status = 503 if reason is Reason.UNAVAILABLE else 200
    return render_template(
        "verify/result.html", verdict=verdict, reason=reason, message=verdict.message,
        license=verdict.license, is_qr=isinstance(verdict, QrVerdict), china=CHINA,
        facets=[(FACET_LABELS.get(name, name), OUTCOME_LABELS[facet.outcome], facet)
                for name, facet in verdict.facets()],
    ), status


def _max_mb() -> int:
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return max(1, int(limit) // (1024 * 1024))


# -- API ------------------------------------------------------------------------------------------


@api.post("/api/v1/verify")
def verify_api() -> Response:
    _refuse_oversized()
    verifier = _verifier()
    mimetype = request.mimetype or ""
    if mimetype == "application/json":
        body = json_body()
        if not isinstance(body, dict) or not isinstance(body.get("text"), str) or (
                set(body) - JSON_MEMBERS):
            return _api_error("the JSON body must be {\"text\": <QR text>, \"at\": <optional "
                              "ISO 8601 time>}")
        at = _at(body.get("at"))
        verdict: Verdict = verifier.verify_qr(body["text"], at)
    elif mimetype == "multipart/form-data":
        at = _at(request.form.get("at"))
        uploaded = request.files.get("file")
        if uploaded is not None:
            verdict = verifier.verify_file(uploaded.read(), at)
        elif request.form.get("text"):
            verdict = verifier.verify_qr(request.form["text"], at)
        else:
            return _api_error("send a file in the form field 'file', or the QR text in 'text'")
    elif mimetype == "application/pdf" or mimetype.startswith("image/"):
        verdict = verifier.verify_file(request_body(), _at(request.args.get("at")))
    else:
        return _api_error("send multipart/form-data, application/json, application/pdf or "
                          "an image", 415)
    response = jsonify(verdict.to_json())
    if verdict.bottom_line is Reason.UNAVAILABLE:
        response.status_code = 503
    return _no_store(response)


@api.get(trust_list.WELL_KNOWN_PATH)
def trust_list_json() -> Response:
    """The signed trust list, flattened JWS JSON (docs/trust-list.md)."""
    return _cacheable(jsonify(trust_list.flattened(_published_trust_list())))


@api.get(trust_list.COMPACT_PATH)
def trust_list_jws() -> Response:
    """The same signed trust list as a compact JWS."""
    return _cacheable(Response(_published_trust_list(), mimetype=trust_list.MEDIA_TYPE))


def _published_trust_list() -> str:
    runtime = current_app.extensions["yiwang"]
    session = current_session()
    token = trust_list.publish(session, runtime.keystore, issuer=runtime.settings.issuer,
                               now=utcnow())
    session.commit()  # the signing key, the first time
    return token


def _cacheable(response: Response) -> Response:
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


def _at(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    try:
        moment = dt.datetime.fromisoformat(str(value))
    except ValueError:
        abort(_api_error("at must be an ISO 8601 time with a UTC offset"))
    if moment.utcoffset() is None:
        abort(_api_error("at must carry a UTC offset (e.g. 2030-01-01T00:00:00+08:00)"))
    try:
        return verification_time(moment)
    except VerifyError as exc:
        abort(_api_error(f"at: {exc}"))


def _api_error(description: str, status: int = 400) -> Response:
    response = jsonify(error="invalid_request", error_description=description)
    response.status_code = status
    return _no_store(response)
