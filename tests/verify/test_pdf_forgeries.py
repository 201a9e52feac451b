"""The PDF forgery corpus: each attack on a genuine issued license gets its exact reason.

Every attack starts from a license the vault really issued; pdfsig (poppler
+ NSS, trusting only this instance's root) is asked for the cryptographic
facts it can see, and must agree with the verdict's facets.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import resource
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy.orm import Session

from keys import Purpose
from license_vault import catalogue, departments
from license_vault.models import Department, LicenseType
from signing import signed_revision_digest
from tests.license_vault.helpers import FOOD, World
from tests.license_vault.helpers import pdfsig as run_pdfsig
from tests.verify import forgeries
from tests.verify.conftest import FreshVerifier, Issued, issue
from verify import Outcome, PdfVerdict, Reason, bombs
from yiwang.database import utcnow

PdfSig = Callable[[bytes], list[str]]


@pytest.fixture
def pdfsig(nss_db: str, tmp_path: Path) -> PdfSig:
    return lambda pdf: run_pdfsig(pdf, nss_db, tmp_path)


def outcomes(verdict: PdfVerdict) -> dict[str, Outcome]:
    return {name: facet.outcome for name, facet in verdict.facets()}


# -- genuine licenses -----------------------------------------------------------------------------


def test_genuine_license_is_valid_with_every_facet_passed(
        verifier: FreshVerifier, genuine: Issued, pdfsig: PdfSig) -> None:
    verdict = verifier.verify_pdf(genuine.pdf)
    assert verdict.bottom_line is Reason.VALID, verdict.to_json()
    assert set(outcomes(verdict).values()) == {Outcome.PASSED}
    assert verdict.identifier == genuine.identifier
    assert verdict.signed_revision_sha256 == genuine.license.pdf_sha256
    assert verdict.signing_time is not None
    assert verdict.license is not None and verdict.license.source == "vault"
    assert verdict.license.identifier == genuine.identifier
    lines = pdfsig(genuine.pdf)
    assert "Signature Validation: Signature is Valid." in lines
    assert "Certificate Validation: Certificate is Trusted." in lines
    assert "Total document signed" in lines


def test_license_with_dss_added_by_the_vault_stays_valid(
        verify_world: World, verifier: FreshVerifier, db_session: Session, genuine: Issued,
        pdfsig: PdfSig) -> None:
    keystore = verify_world.runtime.keystore
    session = db_session
    # The vault adds LTV data later than issuance; a CRL's thisUpdate is cut to the
    # second, so date it clearly after the signing time.
    later = utcnow() + dt.timedelta(seconds=2)
    crls = [keystore.crl(session, which, now=later) for which in ("issuing", "root")]
    with_ltv = forgeries.add_dss(genuine.pdf, root=keystore.root_certificate(session), crls=crls,
                                 at=later)
    assert len(with_ltv) > len(genuine.pdf)
    assert "/DSS" in PdfFileReader(io.BytesIO(with_ltv)).root

    verdict = verifier.verify_pdf(with_ltv)

    assert verdict.bottom_line is Reason.VALID, verdict.to_json()
    assert "long-term validation" in verdict.covers_document.detail
    assert verdict.signed_revision_sha256 == genuine.license.pdf_sha256
    assert signed_revision_digest(with_ltv) == genuine.license.pdf_sha256
    assert "embedded CRL" in verdict.certificate_good_at_signing.detail
    # poppler does no difference analysis: it only sees that the file grew
    lines = pdfsig(with_ltv)
    assert "Signature Validation: Signature is Valid." in lines
    assert "Not total document signed" in lines


def test_license_with_a_document_timestamp_stays_valid(
        verify_world: World, verifier: FreshVerifier, db_session: Session, genuine: Issued) -> None:
    stamper = verify_world.runtime.keystore.timestamper(db_session)
    stamped = forgeries.add_document_timestamp(genuine.pdf, stamper)

    verdict = verifier.verify_pdf(stamped)

    assert verdict.bottom_line is Reason.VALID, verdict.to_json()
    assert verdict.signed_revision_sha256 == genuine.license.pdf_sha256


def test_certificate_revoked_after_signing_leaves_the_license_valid(
        verify_world: World, verifier: FreshVerifier) -> None:
    department = _register(verify_world, "11350100000000019N", "福州市某某局")
    issued = _issue_as(verify_world, department)
    # CRLs date revocations to the second: revoke clearly after the signing time
    _revoke_signing_certificate(verify_world, department.uscc,
                                now=utcnow() + dt.timedelta(seconds=2))

    verdict = verifier.verify_pdf(issued.pdf)

    assert verdict.bottom_line is Reason.VALID, verdict.to_json()
    assert verdict.certificate_good_at_signing.passed
    assert "served CRL" in verdict.certificate_good_at_signing.detail


# -- changed after signing ------------------------------------------------------------------------


def test_text_painted_over_in_an_incremental_update(
        verifier: FreshVerifier, genuine: Issued, pdfsig: PdfSig) -> None:
    forged = forgeries.paint_over(genuine.pdf)

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.MODIFIED_AFTER_SIGNING
    assert verdict.intact.passed and verdict.trusted.passed
    # the page can show what the vault issued, never what the file now shows
    assert verdict.license is not None and verdict.license.source == "vault"
    assert verdict.license.identifier == genuine.identifier
    lines = pdfsig(forged)
    assert "Signature Validation: Signature is Valid." in lines
    assert "Not total document signed" in lines


def test_new_page_appended(verifier: FreshVerifier, genuine: Issued, pdfsig: PdfSig) -> None:
    forged = forgeries.append_page(genuine.pdf)
    assert len(PdfFileReader(io.BytesIO(forged)).root["/Pages"]["/Kids"]) == 2

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.MODIFIED_AFTER_SIGNING
    assert "OTHER" in verdict.covers_document.detail
    assert "Not total document signed" in pdfsig(forged)


def test_update_hidden_from_pyhanko_by_a_missing_end_marker(
        verifier: FreshVerifier, genuine: Issued, pdfsig: PdfSig) -> None:
    forged = forgeries.hidden_update(genuine.pdf)
    # pyHanko alone sees only the genuine file
    assert PdfFileReader(io.BytesIO(forged)).xrefs.total_revisions == \
        PdfFileReader(io.BytesIO(genuine.pdf)).xrefs.total_revisions

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.MODIFIED_AFTER_SIGNING
    assert "end-of-file marker" in verdict.covers_document.detail
    assert "Not total document signed" in pdfsig(forged)


@pytest.mark.parametrize("tail", [b"\n% a comment\n", b"garbage", b"\x00" * 4 + b"x"])
def test_bytes_after_the_end_marker(verifier: FreshVerifier, genuine: Issued,
                                    tail: bytes) -> None:
    verdict = verifier.verify_pdf(genuine.pdf + tail)
    assert verdict.bottom_line is Reason.MODIFIED_AFTER_SIGNING


def test_trailing_whitespace_is_no_change(verifier: FreshVerifier, genuine: Issued) -> None:
    assert verifier.verify_pdf(genuine.pdf + b"\r\n \n").bottom_line is Reason.VALID


def test_metadata_rewritten_after_signing(verifier: FreshVerifier, genuine: Issued) -> None:
    forged = forgeries.rewrite_metadata(
        genuine.pdf, Title="食品经营许可证（有效期至2099年12月31日）",
        Subject=genuine.identifier.replace(".001.", ".002."))

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.MODIFIED_AFTER_SIGNING
    assert verdict.covers_document.detail == \
        "the metadata was changed after signing (Subject, Title)"
    # the identifier is the signed revision's, not the one written later
    assert verdict.license is not None and verdict.license.identifier == genuine.identifier


def test_byte_range_rewritten_to_wrap_other_content(
        verifier: FreshVerifier, genuine: Issued, pdfsig: PdfSig) -> None:
    forged = forgeries.wrap_byte_range(genuine.pdf)
    assert len(forged) == len(genuine.pdf)

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.SIGNATURE_BROKEN
    assert verdict.license is None
    assert "Signature Validation: Digest Mismatch." in pdfsig(forged)


@pytest.mark.parametrize("shape", ["1 {1} {2} {3}", "{0} {1} {2} -{3}", "{0} {1} {2} 1 2 3",
                                   "{0} {2} {1} {3}"],
                         ids=["start-moved", "negative", "six-values", "ranges-swapped"])
def test_byte_range_reshaped(verifier: FreshVerifier, genuine: Issued, shape: str) -> None:
    verdict = verifier.verify_pdf(forgeries.reshape_byte_range(genuine.pdf, shape))
    assert verdict.bottom_line is Reason.SIGNATURE_BROKEN
    assert "two ranges" in verdict.intact.detail


@pytest.mark.parametrize("layered", [False, True], ids=["flate", "ascii85-flate-flate"])
def test_decompression_bomb_in_an_update_is_refused_cheaply(
        verifier: FreshVerifier, genuine: Issued, layered: bool) -> None:
    forged = forgeries.decompression_bomb(genuine.pdf, megabytes=400, layered=layered)
    assert len(forged) < 2 * 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.MALFORMED
    assert "decompression bomb" in verdict.well_formed.detail
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 200 * 1024, "the 400 MB stream must never be inflated"


@pytest.mark.parametrize("keyword", [b"stream\n", b"stream\r\n", b"stream\r", b"stream \n",
                                     b"stream\t \r\n", b"stream "])
def test_bomb_scan_finds_stream_data_where_pyhanko_does(keyword: bytes) -> None:
    # pyHanko skips any whitespace after the keyword up to the end of line.
    bomb = zlib.compress(bytes(bombs.MAX_STREAM_BYTES + 1), 9)
    data = (b"%PDF-1.7\n1 0 obj\n<< /Filter /FlateDecode /Length " + str(len(bomb)).encode()
            + b" >>\n" + keyword + bomb + b"\nendstream\nendobj\n")
    assert bombs.inflates_too_much(data)


# -- not signed, or not a PDF ---------------------------------------------------------------------


def test_signature_removed_in_an_update(verifier: FreshVerifier, genuine: Issued,
                                        pdfsig: PdfSig) -> None:
    forged = forgeries.strip_signature(genuine.pdf)

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.NOT_SIGNED
    assert verdict.license is None
    assert any("does not contain any signatures" in line for line in pdfsig(forged))


def test_file_rewritten_without_its_signature(verifier: FreshVerifier, genuine: Issued) -> None:
    forged = forgeries.rewrite_unsigned(genuine.pdf)
    assert PdfFileReader(io.BytesIO(forged)).embedded_signatures == []

    assert verifier.verify_pdf(forged).bottom_line is Reason.NOT_SIGNED


@pytest.mark.parametrize("keep", [0.5, 0.9, -20], ids=["half", "most", "tail-cut"])
def test_truncated_pdf(verifier: FreshVerifier, genuine: Issued, keep: float) -> None:
    size = int(len(genuine.pdf) * keep) if keep > 0 else len(genuine.pdf) + int(keep)

    verdict = verifier.verify_pdf(forgeries.truncate(genuine.pdf, size))

    assert verdict.bottom_line is Reason.MALFORMED
    assert verdict.signed.outcome is Outcome.NOT_CHECKED


@pytest.mark.parametrize("data", [
    b"", b"%PDF-", b"PK\x03\x04 a zip archive renamed .pdf",
    b"\x89PNG\r\n\x1a\n not a pdf either", "a text string, not bytes",
    b"%PDF-1.7\n" + b"\x00" * 4096,
], ids=["empty", "header-only", "zip", "png", "str", "zeros"])
def test_non_pdf_renamed_pdf(verifier: FreshVerifier, data: object) -> None:
    verdict = verifier.verify_pdf(data)
    assert verdict.bottom_line is Reason.MALFORMED
    assert verdict.license is None


# -- signed by someone else, or by us at the wrong time -------------------------------------------


def test_lookalike_chain_from_another_ca_with_the_same_names(
        verify_world: World, verifier: FreshVerifier, db_session: Session, genuine: Issued,
        pdfsig: PdfSig) -> None:
    keystore = verify_world.runtime.keystore
    session = db_session
    department_certificate = keystore.active_key(
        session, Purpose.DEPT_SIGNING, _issuer_uscc(genuine)).certificate
    assert department_certificate is not None
    key, chain, stamper = forgeries.lookalike_pki(
        keystore.root_certificate(session), keystore.issuing_certificate(session),
        department_certificate, now=utcnow() - dt.timedelta(minutes=1))
    copy = forgeries.unsigned_copy(genuine.license, "福州市市场监督管理局", genuine.qr_url)
    forged = forgeries.sign(copy, key, chain, stamper)

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.UNTRUSTED_SIGNER
    assert verdict.intact.passed and verdict.covers_document.passed
    assert verdict.license is None
    lines = pdfsig(forged)
    assert "Signature Validation: Signature is Valid." in lines
    assert "Certificate Validation: Certificate is Trusted." not in lines


def test_signed_with_a_certificate_revoked_before_signing(
        verify_world: World, verifier: FreshVerifier, genuine: Issued) -> None:
    keystore = verify_world.runtime.keystore
    department = _register(verify_world, "11350100000000027H", "福州市某某总局")
    with verify_world.session() as session:
        key = keystore.active_key(session, Purpose.DEPT_SIGNING, department.uscc)
    revoked_at = _revoke_signing_certificate(verify_world, department.uscc, now=utcnow())
    with verify_world.session() as session:
        chain = [keystore.issuing_certificate(session), keystore.root_certificate(session)]
        stamper = keystore.timestamper(session, at=revoked_at + dt.timedelta(seconds=2))
    copy = forgeries.unsigned_copy(genuine.license, "福州市某某总局", genuine.qr_url)
    forged = forgeries.sign(copy, key, chain, stamper)

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.SIGNER_CERT_REVOKED, verdict.to_json()
    assert verdict.trusted.passed
    assert "revoked" in verdict.certificate_good_at_signing.detail
    assert verdict.license is None


def test_signed_with_a_certificate_expired_at_signing(
        verify_world: World, verifier: FreshVerifier, db_session: Session, genuine: Issued,
        pdfsig: PdfSig) -> None:
    keystore = verify_world.runtime.keystore
    session = db_session
    ca = keystore.active_key(session, Purpose.ISSUING_CA)
    assert ca.certificate is not None
    start = ca.certificate.not_valid_before_utc
    department_certificate = keystore.active_key(
        session, Purpose.DEPT_SIGNING, _issuer_uscc(genuine)).certificate
    assert department_certificate is not None
    key = forgeries.short_lived_certificate(ca, department_certificate, not_before=start,
                                            not_after=start + dt.timedelta(seconds=1))
    signing_time = max(utcnow(), start + dt.timedelta(seconds=5))
    stamper = keystore.timestamper(session, at=signing_time)
    chain = [keystore.issuing_certificate(session), keystore.root_certificate(session)]
    copy = forgeries.unsigned_copy(genuine.license, "福州市市场监督管理局", genuine.qr_url)
    forged = forgeries.sign(copy, key, chain, stamper)

    verdict = verifier.verify_pdf(forged)

    assert verdict.bottom_line is Reason.SIGNER_CERT_EXPIRED_AT_SIGNING, verdict.to_json()
    assert verdict.trusted.passed
    lines = pdfsig(forged)
    assert "Signature Validation: Signature is Valid." in lines
    assert "Certificate Validation: Certificate has Expired" in lines


def test_genuine_signature_on_a_file_the_vault_never_issued(
        verify_world: World, verifier: FreshVerifier, db_session: Session, genuine: Issued) -> None:
    """A department key misused outside issuance: trusted, but unknown to the vault."""
    keystore = verify_world.runtime.keystore
    session = db_session
    key = keystore.active_key(session, Purpose.DEPT_SIGNING, _issuer_uscc(genuine))
    chain = [keystore.issuing_certificate(session), keystore.root_certificate(session)]
    copy = forgeries.unsigned_copy(genuine.license, "福州市市场监督管理局", genuine.qr_url)
    forged = forgeries.sign(copy, key, chain, keystore.timestamper(session))

    verdict = verifier.verify_pdf(forged)

    # the file names the genuine identifier, but is not the file issued under it
    assert verdict.bottom_line is Reason.DOES_NOT_MATCH_VAULT, verdict.to_json()
    assert verdict.in_vault.passed and verdict.license is None


# -- helpers --------------------------------------------------------------------------------------


def _issuer_uscc(issued: Issued) -> str:
    return issued.identifier.split(".")[6]


@dataclasses.dataclass(frozen=True)
class _Department:
    uscc: str
    name: str


def _register(world: World, uscc: str, name: str) -> _Department:
    with world.session() as session:
        if session.query(Department).filter_by(uscc=uscc).first() is None:
            departments.register_department(session, world.runtime.keystore, uscc=uscc,
                                            name=name, now=utcnow())
    return _Department(uscc, name)


def _issue_as(world: World, department: _Department) -> Issued:
    with world.session() as session:
        record = session.get(LicenseType, FOOD)
        assert record is not None
        catalogue.add_license_type(session, {**record.definition, "issuers": [department.uscc]},
                                   now=utcnow())
    return issue(world, department=department.uscc)


def _revoke_signing_certificate(world: World, uscc: str, *, now: dt.datetime) -> dt.datetime:
    keystore = world.runtime.keystore
    with world.session() as session:
        key = keystore.active_key(session, Purpose.DEPT_SIGNING, uscc)
        assert key.certificate is not None
        info = keystore.revoke_certificate(session, format(key.certificate.serial_number, "x"),
                                           reason="keyCompromise", now=now)
    assert info.revoked_at is not None
    return info.revoked_at
