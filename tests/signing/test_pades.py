"""PAdES signing: real signatures checked by poppler/NSS (pdfsig) and pyHanko."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from pyhanko.pdf_utils.generic import StreamObject, pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.validation import add_validation_info, validate_pdf_signature
from pyhanko.sign.validation.status import ModificationLevel, SignatureCoverageLevel

from signing.errors import SignatureError
from signing.pades import (
    DEFAULT_FIELD_NAME,
    SignedPdf,
    _require_whole_file_signed,
    sign_pdf,
    signed_revision_digest,
)
from signing.render import LicenseFace, render_license


@pytest.fixture(scope="module")
def license_pdf() -> bytes:
    import datetime as dt

    return render_license(LicenseFace(
        title="食品经营许可证", license_number="JY11108001234567",
        holder_name="北京某某餐饮管理有限公司", holder_label="经营者名称",
        rows=[("主体业态", "餐饮服务经营者（中型餐馆）", "enumeration"),
              ("经营项目", "热食类食品制售\n冷食类食品制售", "multiline")],
        issuing_department="北京市海淀区市场监督管理局", issue_date=dt.date(2024, 6, 3),
        valid_from=dt.date(2024, 6, 3), valid_until=dt.date(2029, 6, 2),
        identifier="1.2.156.3005.2.11100000000013127D002.11110108000044943U."
                   "7K3M9Q2X4B8N1P5R6T0W.001.Z",
        qr_url="https://yiwang.example.gov.cn/v/0oRQogEmBEtxSjN2WDlrTG0yQaBYnKcAAQF4",
    ))


@pytest.fixture
def sign(test_pki) -> Callable[..., SignedPdf]:
    def run(pdf: bytes, **options: object) -> SignedPdf:
        return sign_pdf(pdf, signer=test_pki.signer, timestamper=test_pki.timestamper,
                        reason="签发电子证照", location="北京市海淀区", **options)  # type: ignore[arg-type]

    return run


@pytest.fixture(scope="module")
def signed(license_pdf: bytes, test_pki) -> SignedPdf:
    return sign_pdf(license_pdf, signer=test_pki.signer, timestamper=test_pki.timestamper,
                    reason="签发电子证照", location="北京市海淀区")


def validate(data: bytes, test_pki):  # type: ignore[no-untyped-def]
    signature = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    return validate_pdf_signature(signature, test_pki.validation_context(),
                                  test_pki.validation_context())


def paint_over(data: bytes) -> bytes:
    """Append an incremental update that covers part of the face with a white box."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    box = writer.add_object(StreamObject(stream_data=b"q 1 1 1 rg 60 300 480 200 re f Q"))
    writer.add_stream_to_page(0, box)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_pdfsig_finds_a_valid_trusted_signature_over_the_whole_file(signed, pdfsig) -> None:
    lines = pdfsig(signed.data)
    assert f"Signature Field Name: {DEFAULT_FIELD_NAME}" in lines
    assert "Signature Type: ETSI.CAdES.detached" in lines
    assert "Signature Validation: Signature is Valid." in lines
    assert "Certificate Validation: Certificate is Trusted." in lines
    assert "Total document signed" in lines


def test_pyhanko_finds_an_intact_trusted_certification_covering_the_file(signed,
                                                                        test_pki) -> None:
    status = validate(signed.data, test_pki)
    assert status.intact and status.valid and status.trusted
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.modification_level == ModificationLevel.NONE
    assert status.docmdp_ok
    assert status.bottom_line


def test_the_signature_certifies_with_no_changes_allowed(signed) -> None:
    reader = PdfFileReader(io.BytesIO(signed.data))
    signature = reader.embedded_signatures[0]
    assert signature.docmdp_level == MDPPerm.NO_CHANGES
    assert signature.sig_object["/SubFilter"] == pdf_name("/ETSI.CAdES.detached")
    assert signature.sig_object["/Reason"] == "签发电子证照"
    assert signature.sig_object["/Location"] == "北京市海淀区"


def test_the_signature_carries_a_trusted_timestamp(signed, test_pki) -> None:
    status = validate(signed.data, test_pki)
    assert status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.valid
    assert status.timestamp_validity.trusted


def test_signing_adds_exactly_one_revision_and_no_dss(signed, license_pdf: bytes) -> None:
    original = PdfFileReader(io.BytesIO(license_pdf)).xrefs.total_revisions
    reader = PdfFileReader(io.BytesIO(signed.data))
    assert reader.xrefs.total_revisions == original + 1
    assert "/DSS" not in reader.root


def test_signed_revision_digest_is_the_whole_file_at_issuance(signed) -> None:
    assert signed.signed_revision_sha256 == hashlib.sha256(signed.data).hexdigest()
    assert signed_revision_digest(signed.data) == signed.signed_revision_sha256


def test_a_signature_that_does_not_reach_the_end_of_the_file_is_refused(
        signed, license_pdf: bytes) -> None:
    # What sign_pdf checks instead of parsing its output again.
    _require_whole_file_signed(signed.data, appended_from=len(license_pdf))
    with pytest.raises(SignatureError, match="does not cover the whole file"):
        _require_whole_file_signed(signed.data + b"%%EOF\n", appended_from=len(license_pdf))
    with pytest.raises(SignatureError, match="0 ByteRanges"):
        _require_whole_file_signed(license_pdf, appended_from=0)


def _signed_attributes(data: bytes) -> dict[str, bytes]:
    signer_info = PdfFileReader(io.BytesIO(data)).embedded_signatures[0].signer_info
    return {attribute["type"].native: b"".join(value.dump() for value in attribute["values"])
            for attribute in signer_info["signed_attrs"]}


def test_signed_attributes_are_those_pyhanko_itself_writes(signed, license_pdf: bytes,
                                                           test_pki) -> None:
    meta = signers.PdfSignatureMetadata(
        field_name=DEFAULT_FIELD_NAME, md_algorithm="sha256", certify=True,
        subfilter=fields.SigSeedSubFilter.PADES, docmdp_permissions=MDPPerm.NO_CHANGES)
    plain = signers.PdfSigner(meta, signer=test_pki.signer, timestamper=test_pki.timestamper
                              ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(license_pdf)))
    ours, theirs = _signed_attributes(signed.data), _signed_attributes(plain.getvalue())
    assert list(ours) == list(theirs) == ["content_type", "message_digest",
                                          "signing_certificate_v2"]
    assert ours["content_type"] == theirs["content_type"]
    assert ours["signing_certificate_v2"] == theirs["signing_certificate_v2"]
    expected = as_signing_certificate_v2(test_pki.signer.signing_cert)
    assert ours["signing_certificate_v2"] == expected.dump()


def test_signing_leaves_the_shared_signer_as_it_was(license_pdf: bytes, sign,
                                                    test_pki) -> None:
    sign(license_pdf)
    assert test_pki.signer.signed_attr_prov_spec is None


def test_signed_revision_digest_survives_an_ltv_update(signed, test_pki) -> None:
    signature = PdfFileReader(io.BytesIO(signed.data)).embedded_signatures[0]
    updated = add_validation_info(signature, test_pki.validation_context()).getvalue()
    assert len(updated) > len(signed.data)
    assert signed_revision_digest(updated) == signed.signed_revision_sha256
    status = validate(updated, test_pki)
    assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert status.modification_level == ModificationLevel.LTA_UPDATES
    assert status.docmdp_ok


def test_painting_over_a_signed_license_is_reported_by_both_validators(signed, test_pki,
                                                                       pdfsig) -> None:
    tampered = paint_over(signed.data)
    assert "Not total document signed" in pdfsig(tampered)
    status = validate(tampered, test_pki)
    assert status.intact  # the signed bytes are untouched...
    assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert not status.bottom_line  # ...but the update is not an allowed one
    assert signed_revision_digest(tampered) == signed.signed_revision_sha256


def test_signing_works_from_several_threads_at_once(license_pdf: bytes, sign,
                                                    test_pki) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: sign(license_pdf), range(8)))
    assert len({result.signed_revision_sha256 for result in results}) == len(results)
    for result in results:
        status = validate(result.data, test_pki)
        assert status.bottom_line


def test_signing_inside_a_running_event_loop_is_refused_clearly(license_pdf: bytes,
                                                                sign) -> None:
    async def inside_loop() -> None:
        sign(license_pdf)

    with pytest.raises(SignatureError, match="worker thread"):
        asyncio.run(inside_loop())


def test_pyhanko_size_estimate_is_used_when_no_size_is_reserved(license_pdf: bytes, sign,
                                                                test_pki) -> None:
    result = sign(license_pdf, bytes_reserved=None)
    assert validate(result.data, test_pki).bottom_line


def test_too_small_a_reservation_fails_with_a_hint(license_pdf: bytes, sign) -> None:
    with pytest.raises(SignatureError, match="bytes_reserved=2048 is too small"):
        sign(license_pdf, bytes_reserved=2048)


def test_a_document_that_is_not_a_pdf_is_refused(sign) -> None:
    with pytest.raises(SignatureError):
        sign(b"this is not a PDF")


def test_an_already_certified_document_cannot_be_signed_again(signed, sign) -> None:
    with pytest.raises(SignatureError):
        sign(signed.data)


def test_an_unsigned_file_has_no_signed_revision(license_pdf: bytes) -> None:
    with pytest.raises(SignatureError, match="no signature"):
        signed_revision_digest(license_pdf)
    with pytest.raises(SignatureError, match="not a readable PDF"):
        signed_revision_digest(b"garbage")
