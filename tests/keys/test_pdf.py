"""A department signs a real PDF; poppler/NSS and pyHanko accept signature and chain.

This proves the certificate profile (EKUs, CRL distribution point) and the
in-process TSA token are what external validators demand.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, general, signers
from pyhanko.sign.timestamps import DummyTimeStamper, TimeStamper, dummy_client
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlalchemy.orm import Session

from keys import Purpose
from tests.keys.conftest import DEPARTMENT_USCC, Store, make_nss_db, require_tool, run, write_pem


def _small_pdf() -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.drawString(72, 760, "Yiwang test licence")
    page.save()
    return buffer.getvalue()


def _certify(signer: signers.Signer, timestamper: TimeStamper | None) -> bytes:
    metadata = signers.PdfSignatureMetadata(
        field_name="Signature",
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        subfilter=fields.SigSeedSubFilter.PADES,
    )
    pdf_signer = signers.PdfSigner(metadata, signer=signer, timestamper=timestamper)
    output = pdf_signer.sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(_small_pdf())), bytes_reserved=16384)
    return output.getvalue()


def test_department_signature_is_trusted_by_pdfsig(
    pki: Store, pki_session: Session, tmp_path: Path
) -> None:
    require_tool("pdfsig")
    signer = pki.keystore.pdf_signer(pki_session, DEPARTMENT_USCC)
    signed = _certify(signer, pki.keystore.timestamper(pki_session))
    pdf = tmp_path / "licence.pdf"
    pdf.write_bytes(signed)
    root = write_pem(tmp_path / "root.pem", pki.keystore.root_certificate(pki_session))
    nssdir = make_nss_db(tmp_path / "nss", root)

    report = run("pdfsig", "-nssdir", nssdir, "-no-ocsp", pdf).stdout
    assert "Signature is Valid" in report, report
    assert "Certificate is Trusted" in report, report
    assert "Total document signed" in report, report


def test_department_signature_validates_with_pyhanko(pki: Store, pki_session: Session) -> None:
    keystore = pki.keystore
    signed = _certify(keystore.pdf_signer(pki_session, DEPARTMENT_USCC),
                      keystore.timestamper(pki_session))
    embedded = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0]
    context = ValidationContext(trust_roots=keystore.trust_roots(pki_session))
    status = validate_pdf_signature(embedded, context)
    assert status.bottom_line, status.pretty_print_details()
    assert status.timestamp_validity is not None and status.timestamp_validity.trusted
    assert embedded.docmdp_level == fields.MDPPerm.NO_CHANGES


def test_time_stamper_signs_without_reparsing_the_tsa_key(
    pki: Store, pki_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loading the RSA TSA key costs ~33 ms; the stamper must use the parsed key."""
    stamper = pki.keystore.timestamper(pki_session, at=pki.now)
    _nonce, request = stamper.request_cms(hashlib.sha256(b"licence").digest(), "sha256")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the TSA key was parsed again")

    monkeypatch.setattr(serialization, "load_der_private_key", refuse)
    response = stamper.request_tsa_response(request)
    assert response["status"]["status"].native == "granted"
    signed_data = response["time_stamp_token"]["content"]
    signer_info = signed_data["signer_infos"][0]
    tsa = pki.keystore.active_key(pki_session, Purpose.TSA).certificate
    assert tsa is not None
    tsa_key = tsa.public_key()
    assert isinstance(tsa_key, rsa.RSAPublicKey)
    # RFC 5652 §5.4: the signature covers the attributes as a SET OF (tag 0x31),
    # not with the [0] IMPLICIT tag they carry inside SignerInfo.
    signed_attrs = b"\x31" + signer_info["signed_attrs"].dump()[1:]
    tsa_key.verify(signer_info["signature"].native, signed_attrs,
                   padding.PKCS1v15(), hashes.SHA256())
    tst_info = signed_data["encap_content_info"]["content"].parsed
    assert tst_info["gen_time"].native == pki.now


def test_time_stamp_token_is_byte_for_byte_what_pyhanko_builds(
    pki: Store, pki_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-encoded signing-certificate attribute changes no byte of the token."""
    ours = pki.keystore.timestamper(pki_session, at=pki.now)
    theirs = DummyTimeStamper(
        tsa_cert=ours.tsa_cert, tsa_key=ours.tsa_key, fixed_dt=pki.now,
        certs_to_embed=SimpleCertificateStore.from_certs(ours.certs_to_embed))
    # The TSTInfo serial is random; fixed, the rest is deterministic (RSA PKCS#1 v1.5).
    monkeypatch.setattr(dummy_client, "get_nonce", lambda: 0x1234567890ABCDEF)
    for message in (b"licence", b"another licence"):
        _nonce, request = ours.request_cms(hashlib.sha256(message).digest(), "sha256")
        token = ours.request_tsa_response(request).dump()
        assert token == theirs.request_tsa_response(request).dump()


def test_time_stamper_reuses_its_signing_certificate_attribute(
    pki: Store, pki_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    stamper = pki.keystore.timestamper(pki_session, at=pki.now)
    stamper.request_tsa_response(stamper.request_cms(b"\x00" * 32, "sha256")[1])

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the signing-certificate attribute was built again")

    monkeypatch.setattr(general, "as_signing_certificate", refuse)
    again = pki.keystore.timestamper(pki_session, at=pki.now)
    response = again.request_tsa_response(again.request_cms(b"\x01" * 32, "sha256")[1])
    assert response["status"]["status"].native == "granted"
