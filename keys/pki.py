"""Certificate and CRL builders: pure functions over ``cryptography``.

Nothing here touches the database or the clock; the caller passes ``now``.
The profiles are what validators in the field demand:

* root CA: P-256, 20 years, CA (pathlen 1), keyCertSign + cRLSign, SKI;
* issuing CA: 10 years, pathlen 0, AKI/SKI, CRL distribution point of the root;
* TSA: RSA-2048 (pyHanko's in-process time stamper signs with RSA only),
  EKU timeStamping (critical, RFC 3161 §2.3), digitalSignature + nonRepudiation;
* document signing: digitalSignature + nonRepudiation, EKU documentSigning
  *and* emailProtection and a CRL distribution point, because poppler/NSS
  (``pdfsig``) reports "Certificate is Trusted" only with all three.

No certificate outlives its issuer: validity is clipped to the issuer's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from .errors import KeyStoreError

ROOT_DAYS = 7305
ISSUING_DAYS = 3652
TSA_DAYS = 1826
DOCUMENT_SIGNING_DAYS = 1096

# RFC 9336 id-kp-documentSigning
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")

# RFC 5280 §5.3.1 reason names accepted for revocation (removeFromCRL only
# exists in delta CRLs, which we do not issue).
REVOCATION_REASONS: tuple[str, ...] = (
    "unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
    "cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise",
)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def new_rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_root_ca(
    key: ec.EllipticCurvePrivateKey, *, common_name: str, now: dt.datetime
) -> x509.Certificate:
    """A self-signed root: the one trust anchor relying parties install."""
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    builder = (
        _builder(name, name, key.public_key(), now, now + dt.timedelta(days=ROOT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )
    return builder.sign(key, hashes.SHA256())


def make_issuing_ca(
    key: ec.EllipticCurvePrivateKey,
    *,
    root_key: ec.EllipticCurvePrivateKey,
    root_cert: x509.Certificate,
    crl_url: str,
    now: dt.datetime,
    common_name: str = "Yiwang Issuing CA",
) -> x509.Certificate:
    """The CA that issues department and TSA certificates, under the root."""
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    builder = (
        _issued(name, key.public_key(), root_cert, now, ISSUING_DAYS, crl_url)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )
    return builder.sign(root_key, hashes.SHA256())


def make_tsa_certificate(
    key: rsa.RSAPrivateKey,
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    crl_url: str,
    now: dt.datetime,
    common_name: str = "Yiwang Time Stamping Authority",
) -> x509.Certificate:
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])
    builder = (
        _issued(name, key.public_key(), ca_cert, now, TSA_DAYS, crl_url)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_signer_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    )
    return builder.sign(ca_key, hashes.SHA256())


def make_document_signing_certificate(
    public_key: PublicKey,
    *,
    organisation: str,
    uscc: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    crl_url: str,
    now: dt.datetime,
    validity_days: int = DOCUMENT_SIGNING_DAYS,
) -> x509.Certificate:
    """A department's certificate for signing license PDFs.

    Subject: C=CN, O and CN the department's name, serialNumber its USCC.
    """
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc),
        x509.NameAttribute(NameOID.COMMON_NAME, organisation),
    ])
    builder = (
        _issued(name, public_key, ca_cert, now, validity_days, crl_url)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_signer_key_usage(), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
    )
    return builder.sign(ca_key, hashes.SHA256())


def make_crl(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    revoked: Iterable[tuple[int, dt.datetime, str | None]],
    *,
    now: dt.datetime,
    next_update: dt.datetime,
    crl_number: int | None = None,
) -> x509.CertificateRevocationList:
    """A complete CRL listing ``(serial, revoked_at, reason)`` entries.

    ``crl_number`` defaults to ``now`` in seconds, which grows with every
    fresh CRL as RFC 5280 §5.2.3 requires.
    """
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(next_update)
        .add_extension(
            x509.CRLNumber(int(now.timestamp()) if crl_number is None else crl_number),
            critical=False,
        )
        .add_extension(_authority_key_identifier(ca_cert), critical=False)
    )
    for serial, revoked_at, reason in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at)
        if reason is not None and reason != "unspecified":
            # RFC 5280 §5.3.1: omit the extension rather than say "unspecified".
            entry = entry.add_extension(x509.CRLReason(reason_flag(reason)), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca_key, hashes.SHA256())


def reason_flag(reason: str) -> x509.ReasonFlags:
    """The ``ReasonFlags`` member for an RFC 5280 reason name like ``keyCompromise``."""
    if reason not in REVOCATION_REASONS:
        raise KeyStoreError(
            f"unknown revocation reason {reason!r}; use one of {', '.join(REVOCATION_REASONS)}"
        )
    return x509.ReasonFlags(reason)


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    now: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())  # 159 random bits
        .not_valid_before(now)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


# ETSI TS 119 612 id-tsl-kp-tslSigning: the key signs trust lists and nothing else.
TSL_SIGNING = ObjectIdentifier("0.4.0.2231.3.0")


def make_trust_list_certificate(
    public_key: ec.EllipticCurvePublicKey,
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    crl_url: str,
    now: dt.datetime,
    validity_days: int,
) -> x509.Certificate:
    """The certificate of the key that signs the published trust list (EKU tslSigning)."""
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Yiwang Trust List Signer"),
    ])
    return (
        _issued(name, public_key, ca_cert, now, validity_days, crl_url)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_signer_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([TSL_SIGNING]), critical=True)
        .sign(ca_key, hashes.SHA256())
    )


def _issued(
    subject: x509.Name,
    public_key: PublicKey,
    ca_cert: x509.Certificate,
    now: dt.datetime,
    days: int,
    crl_url: str,
) -> x509.CertificateBuilder:
    not_after = min(now + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    if not_after <= now:
        raise KeyStoreError(f"issuer certificate {ca_cert.subject.rfc4514_string()} has expired")
    return (
        _builder(subject, ca_cert.subject, public_key, now, not_after)
        .add_extension(_authority_key_identifier(ca_cert), critical=False)
        .add_extension(
            x509.CRLDistributionPoints([
                x509.DistributionPoint(
                    full_name=[x509.UniformResourceIdentifier(crl_url)],
                    relative_name=None, reasons=None, crl_issuer=None,
                )
            ]),
            critical=False,
        )
    )


def _authority_key_identifier(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
        encipher_only=False, decipher_only=False,
    )


def _signer_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True, content_commitment=True, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )
