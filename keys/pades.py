"""pyHanko objects built from key store keys: PDF signers and the in-process TSA.

pyHanko works on asn1crypto structures and re-parses the private key DER on
every signature. For P-256 that costs ~20 µs; for the RSA-2048 time-stamping
key it costs ~33 ms (OpenSSL validates the RSA key on load), so the time
stamper here signs with the key object the key store already parsed.

The time stamper also builds its signing-certificate attribute (the TSA
certificate's hash, issuer name and serial, ten levels deep) once per
certificate and uses it parsed from its DER. asn1crypto re-encodes a freshly
built structure every time an enclosing one is encoded, about twice per
nesting level, and pyHanko encodes the token, signed attributes included,
several times per signature: rebuilding the attribute cost ~2.8 ms of a
~17 ms signature. The token stays byte for byte what pyHanko's
``DummyTimeStamper`` builds (a test compares them).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence

from asn1crypto import cms, core
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.sign import general
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from .errors import KeyStoreError
from .material import SigningKey


def asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def make_signer(key: SigningKey, chain: Sequence[asn1_x509.Certificate]) -> SimpleSigner:
    """A pyHanko signer for ``key`` that embeds its certificate and ``chain``."""
    if key.certificate is None or isinstance(key.private_key, bytes):
        raise KeyStoreError(f"key {key.kid} cannot sign PDFs (no certificate)")
    return SimpleSigner(
        signing_cert=asn1_certificate(key.certificate),
        signing_key=_private_key_info(key),
        cert_registry=SimpleCertificateStore.from_certs(chain),
    )


def make_timestamper(
    key: SigningKey, chain: Sequence[asn1_x509.Certificate], fixed_dt: dt.datetime | None = None
) -> DummyTimeStamper:
    """An RFC 3161 time stamper that signs in-process with the TSA key."""
    if key.certificate is None or not isinstance(key.private_key, rsa.RSAPrivateKey):
        raise KeyStoreError(f"key {key.kid} is not an RSA time-stamping key with a certificate")
    return _ParsedKeyTimeStamper(
        tsa_cert=asn1_certificate(key.certificate),
        tsa_key=_private_key_info(key),
        certs_to_embed=SimpleCertificateStore.from_certs(chain),
        fixed_dt=fixed_dt,
        private_key=key.private_key,
    )


class _ParsedKeyTimeStamper(DummyTimeStamper):
    """``DummyTimeStamper`` signing with a parsed key, its per-certificate parts encoded once.

    The override mirrors pyHanko 0.38's ``_sign_tst_info`` (the same signed
    attributes in the same order, PKCS#1 v1.5 over them); the tests compare
    the token with the one pyHanko's own stamper builds and check poppler and
    pyHanko accept it, which would catch a drift in pyHanko.
    """

    def __init__(self, *, private_key: rsa.RSAPrivateKey, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._private_key = private_key
        self._signing_certificate = _signing_certificate_attribute(self.tsa_cert.dump())

    def _sign_tst_info(
        self, tst_info_data: bytes, md_algorithm: str, dt: dt.datetime
    ) -> tuple[bytes, cms.CMSAttributes]:
        hash_algorithm = get_pyca_cryptography_hash(md_algorithm)
        digest = hashes.Hash(hash_algorithm)
        digest.update(tst_info_data)
        signed_attrs = cms.CMSAttributes([
            general.simple_cms_attribute("content_type", "tst_info"),
            general.simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(dt)})),
            cms.CMSAttribute.load(self._signing_certificate),  # parsed, so encoded once
            general.simple_cms_attribute("message_digest", digest.finalize()),
        ])
        signature = self._private_key.sign(signed_attrs.dump(), PKCS1v15(), hash_algorithm)
        return signature, signed_attrs


@functools.lru_cache(maxsize=16)
def _signing_certificate_attribute(certificate_der: bytes) -> bytes:
    """The DER of the ``signing_certificate`` attribute naming this TSA certificate."""
    certificate = asn1_x509.Certificate.load(certificate_der)
    return bytes(general.simple_cms_attribute(
        "signing_certificate", general.as_signing_certificate(certificate)).dump())


def _private_key_info(key: SigningKey) -> asn1_keys.PrivateKeyInfo:
    assert not isinstance(key.private_key, bytes)
    der = key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return asn1_keys.PrivateKeyInfo.load(der)
