"""Publishes the PKI at the URLs written into every certificate (``/pki/...``).

``keys`` never touches Flask, so the app serves what the key store makes:
the CA certificates (DER, as ``.crt`` files are expected to be) and freshly
signed CRLs, so a revocation shows up on the next fetch.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding
from flask import Blueprint, Response, current_app

from keys import KeyStore
from yiwang.database import current_session, utcnow

blueprint = Blueprint("pki", __name__, url_prefix="/pki")

CRL_MAX_AGE = 300  # seconds; a revocation must not hide in caches for long


def _keystore() -> KeyStore:
    keystore: KeyStore = current_app.extensions["yiwang"].keystore
    return keystore


def _der(data: bytes, mimetype: str, filename: str, max_age: int) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


@blueprint.get("/root.crt")
def root_certificate() -> Response:
    certificate = _keystore().root_certificate(current_session())
    return _der(certificate.public_bytes(Encoding.DER), "application/pkix-cert",
                "yiwang-root.crt", 86400)


@blueprint.get("/issuing.crt")
def issuing_certificate() -> Response:
    certificate = _keystore().issuing_certificate(current_session())
    return _der(certificate.public_bytes(Encoding.DER), "application/pkix-cert",
                "yiwang-issuing.crt", 86400)


@blueprint.get("/root.crl")
def root_crl() -> Response:
    data = _keystore().crl(current_session(), "root", now=utcnow())
    return _der(data, "application/pkix-crl", "yiwang-root.crl", CRL_MAX_AGE)


@blueprint.get("/issuing.crl")
def issuing_crl() -> Response:
    data = _keystore().crl(current_session(), "issuing", now=utcnow())
    return _der(data, "application/pkix-crl", "yiwang-issuing.crl", CRL_MAX_AGE)
