"""What a license PDF proves by itself: the checks that need no vault.

In order, each building on the last: the bytes are a PDF (``well_formed``),
it carries a signature (``signed``), the signature matches the bytes it
covers and its timestamp matches the signature (``intact``), nothing but
long-term-validation data follows the signed revision and DocMDP allows
what does (``covers_document``), the signer and the time-stamping authority
chain to a trust anchor (``trusted``), and the signer's certificate was in
its validity period and not revoked at the time the timestamp proves
(``certificate_good_at_signing``).

pyHanko does the signature, coverage and difference analysis, validating the
chain at the signing time (point in time); revocation is judged here from
the CRLs in the file's DSS and the ones the caller supplies (see
:mod:`verify.revocation`), so that a revocation after signing does not undo
a timestamped signature and one before it always does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import logging
import zlib
from collections.abc import Callable, Iterator, Sequence

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError, ValidationError

from keys.pades import asn1_certificate
from signing.pades import signed_range_end
from verify import bombs, revisions, revocation
from verify.revocation import Answer, RevocationList
from verify.verdict import NOT_CHECKED, Facet, Reason

__all__ = ["MAX_PDF_BYTES", "PdfFindings", "PdfTrust", "examine"]

log = logging.getLogger(__name__)

MAX_PDF_BYTES = 20 * 1024 * 1024
_ALLOWED_AFTER_SIGNING = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)
_MAX_DSS_CRLS = 16


@dataclasses.dataclass(frozen=True)
class PdfTrust:
    """What a PDF is checked against.

    ``roots`` are the trust anchors; ``authorities`` every CA certificate
    whose CRLs count (roots and issuing CAs); ``revocation`` returns, for the
    certificates given, the revocation lists beyond the file's own (the CA's
    records online, the trust list offline). It is called only when a
    signature got that far.
    """

    roots: tuple[x509.Certificate, ...]
    authorities: tuple[x509.Certificate, ...]
    revocation: Callable[[Sequence[x509.Certificate]], Sequence[RevocationList]]


@dataclasses.dataclass
class PdfFindings:
    facets: dict[str, Facet]
    signing_time: dt.datetime | None = None
    signer: x509.Certificate | None = None
    signed_revision: bytes | None = None
    identifier: str | None = None  # the document's /Subject in the signed revision

    @property
    def signed_revision_sha256(self) -> str | None:
        if self.signed_revision is None:
            return None
        return hashlib.sha256(self.signed_revision).hexdigest()

    @property
    def genuine(self) -> bool:
        """The signed revision is intact and by a trusted signer at a proven time."""
        return all(self.facets.get(name, NOT_CHECKED).passed for name in ("intact", "trusted"))


def examine(data: object, trust: PdfTrust) -> PdfFindings:
    """Run the file checks on ``data``; never raises for bad input."""
    findings = PdfFindings({})
    facets = findings.facets
    if not isinstance(data, (bytes, bytearray)) or not data:
        facets["well_formed"] = Facet.fail(Reason.MALFORMED, "no data")
        return findings
    data = bytes(data)
    if len(data) > MAX_PDF_BYTES:
        facets["well_formed"] = Facet.fail(
            Reason.MALFORMED, f"{len(data)} bytes is larger than any license ({MAX_PDF_BYTES})")
        return findings
    if not data.startswith(b"%PDF-"):
        facets["well_formed"] = Facet.fail(Reason.MALFORMED, "the data is not a PDF file")
        return findings
    if bombs.inflates_too_much(data):
        facets["well_formed"] = Facet.fail(
            Reason.MALFORMED, "its streams inflate beyond any license's "
            f"({bombs.MAX_STREAM_BYTES} bytes each, {bombs.MAX_TOTAL_BYTES} in all): "
            "a decompression bomb")
        return findings
    try:
        # Strict: hybrid-reference files, which readers may see differently,
        # are refused rather than judged.
        reader = PdfFileReader(io.BytesIO(data), strict=True)
        signatures = [signature for signature in reader.embedded_signatures
                      if signature.sig_object_type == "/Sig"]
    except Exception as exc:  # hostile input may break the parser in any way
        facets["well_formed"] = Facet.fail(Reason.MALFORMED, f"the PDF cannot be read: {exc}")
        return findings
    facets["well_formed"] = Facet.ok("the file is a readable PDF")
    if not signatures:
        facets["signed"] = Facet.fail(Reason.NOT_SIGNED, "the PDF has no signature")
        return findings
    signature = min(signatures, key=lambda candidate: candidate.signed_revision)
    facets["signed"] = Facet.ok(f"signature field {signature.field_name}")
    end = signed_range_end(signature.byte_range, len(data))
    if end is None:
        if signed_range_end(signature.byte_range, MAX_PDF_BYTES) is not None:
            facets["well_formed"] = Facet.fail(
                Reason.MALFORMED, "the signature's byte range runs past the end of the file "
                "(truncated?)")
        else:
            facets["intact"] = Facet.fail(
                Reason.SIGNATURE_BROKEN, "the signature's byte range is not two ranges from "
                "the start of the file around the signature value")
        return findings
    findings.signed_revision = data[:end]
    _check_signature(signature, trust, findings, revisions.bytes_after_last_eof(data))
    return findings


def _check_signature(signature: EmbeddedPdfSignature, trust: PdfTrust,
                     findings: PdfFindings, unread_tail: int) -> None:
    facets = findings.facets
    claimed_time = _timestamp_time(signature.signer_info)
    roots = [asn1_certificate(root) for root in trust.roots]
    context = ValidationContext(trust_roots=roots, allow_fetching=False,
                                moment=claimed_time, revocation_mode="soft-fail")
    try:
        status = validate_pdf_signature(signature, context, context)
    except Exception as exc:  # an unusable signature dictionary or CMS structure
        facets["intact"] = Facet.fail(Reason.SIGNATURE_BROKEN,
                                      f"the signature cannot be validated: {exc}")
        return
    try:
        findings.signer = x509.load_der_x509_certificate(signature.signer_cert.dump())
    except ValueError:
        facets["intact"] = Facet.fail(Reason.SIGNATURE_BROKEN, "the signer certificate is bad")
        return
    findings.identifier = _identifier(signature)
    facets["intact"] = _intact(status)
    facets["covers_document"] = _coverage(status, signature, unread_tail)
    if not facets["intact"].passed:
        return
    timestamp = status.timestamp_validity
    if claimed_time is None or timestamp is None:
        facets["trusted"] = Facet.fail(
            Reason.UNTRUSTED_SIGNER, "no signature timestamp: the signing time is not proven")
        return
    findings.signing_time = timestamp.timestamp
    if not timestamp.trusted or timestamp.timestamp != claimed_time:
        facets["trusted"] = Facet.fail(
            Reason.UNTRUSTED_SIGNER, "the signature timestamp is not from a trusted authority")
        return
    signer = findings.signer
    moment = timestamp.timestamp
    if not status.trusted:
        if _within_validity(signer, moment) or not _chain_trusted_in_validity(
                signature, roots, signer):
            facets["trusted"] = Facet.fail(
                Reason.UNTRUSTED_SIGNER,
                f"the signer {signer.subject.rfc4514_string()} does not chain to a trust "
                f"anchor ({status.trust_problem_indic})")
            return
        facets["trusted"] = Facet.ok("the signer chains to a trust anchor")
        facets["certificate_good_at_signing"] = Facet.fail(
            Reason.SIGNER_CERT_EXPIRED_AT_SIGNING,
            f"signed at {moment.isoformat()}, outside the certificate's validity "
            f"{signer.not_valid_before_utc.isoformat()} to "
            f"{signer.not_valid_after_utc.isoformat()}")
        return
    tsa = x509.load_der_x509_certificate(timestamp.signing_cert.dump())
    issuer = _issuer_of(signer, signature, trust)
    chain = [signer] if issuer is None or issuer.subject == issuer.issuer else [signer, issuer]
    # Embedded CRLs first, then what the caller knows (see PdfTrust).
    lists = [*_embedded_crls(signature.reader, trust.authorities),
             *trust.revocation([tsa, *chain])]
    tsa_finding = revocation.status_at(tsa, moment, lists)
    if tsa_finding.answer is Answer.REVOKED:
        facets["trusted"] = Facet.fail(
            Reason.UNTRUSTED_SIGNER, "the time-stamping authority's certificate was revoked "
            f"at {_iso(tsa_finding.revoked_at)}, before the timestamp")
        return
    facets["trusted"] = Facet.ok(f"signed by {signer.subject.rfc4514_string()}, which chains "
                                 "to a trust anchor; signing time proven by a trusted timestamp")
    facets["certificate_good_at_signing"] = _good_at(chain, moment, lists)


def _intact(status: PdfSignatureStatus) -> Facet:
    if not (status.intact and status.valid):
        return Facet.fail(Reason.SIGNATURE_BROKEN,
                          "the signature does not match the bytes it claims to cover")
    timestamp = status.timestamp_validity
    if timestamp is not None and not (timestamp.intact and timestamp.valid):
        return Facet.fail(Reason.SIGNATURE_BROKEN,
                          "the signature timestamp does not match the signature")
    return Facet.ok("the signature matches the signed bytes")


def _coverage(status: PdfSignatureStatus, signature: EmbeddedPdfSignature,
              unread_tail: int) -> Facet:
    coverage = status.coverage
    if coverage is SignatureCoverageLevel.ENTIRE_FILE:
        return Facet.ok("the signature covers the whole file")
    if unread_tail:
        return Facet.fail(Reason.MODIFIED_AFTER_SIGNING,
                          f"{unread_tail} bytes follow the file's last end-of-file marker: "
                          "content that some PDF readers show and others ignore")
    level = status.modification_level
    if (coverage is SignatureCoverageLevel.ENTIRE_REVISION and level in _ALLOWED_AFTER_SIGNING
            and status.docmdp_ok):
        rewritten = revisions.metadata_changes(signature.reader, signature.signed_revision)
        if rewritten:
            return Facet.fail(Reason.MODIFIED_AFTER_SIGNING,
                              f"the metadata was changed after signing ({', '.join(rewritten)})")
        return Facet.ok("only long-term validation data follows the signed revision")
    covered = "unknown" if coverage is None else coverage.name
    changed = "unknown" if level is None else level.name
    docmdp = "respected" if status.docmdp_ok else "violated"
    return Facet.fail(Reason.MODIFIED_AFTER_SIGNING,
                      f"the file was changed after signing (coverage {covered}, "
                      f"modification {changed}, DocMDP {docmdp})")


def _good_at(chain: Sequence[x509.Certificate], moment: dt.datetime,
             lists: Sequence[RevocationList]) -> Facet:
    """The signer (and its issuing CA) in validity and not revoked at ``moment``."""
    for certificate in chain:
        if not _within_validity(certificate, moment):
            return Facet.fail(
                Reason.SIGNER_CERT_EXPIRED_AT_SIGNING,
                f"{certificate.subject.rfc4514_string()} was not valid at {moment.isoformat()}")
    sources = []
    for certificate in chain:
        finding = revocation.status_at(certificate, moment, lists)
        name = certificate.subject.rfc4514_string()
        if finding.answer is Answer.REVOKED:
            return Facet.fail(
                Reason.SIGNER_CERT_REVOKED,
                f"{name} (serial {certificate.serial_number:x}) was revoked at "
                f"{_iso(finding.revoked_at)}, before it signed at {moment.isoformat()} "
                f"({finding.source})")
        if finding.answer is Answer.UNKNOWN:
            return Facet.skip(f"no revocation information about {name} dated after the "
                              "signing time")
        sources.append(str(finding.source))
    return Facet.ok(f"valid and not revoked at {moment.isoformat()} "
                    f"({', '.join(dict.fromkeys(sources))})")


def _issuer_of(certificate: x509.Certificate, signature: EmbeddedPdfSignature,
               trust: PdfTrust) -> x509.Certificate | None:
    candidates = list(trust.authorities)
    for embedded in signature.other_embedded_certs:
        try:
            candidates.append(x509.load_der_x509_certificate(embedded.dump()))
        except ValueError:
            continue
    for candidate in candidates:
        if candidate.subject != certificate.issuer:
            continue
        try:
            certificate.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None


def _chain_trusted_in_validity(signature: EmbeddedPdfSignature,
                               roots: list[asn1_x509.Certificate],
                               signer: x509.Certificate) -> bool:
    """Would the signer's chain be trusted at a moment inside its validity period?

    Only asked when pyHanko did not trust the chain at the signing time: if it
    trusts it here, the certificate is ours and the time was the problem.
    """
    moment = signer.not_valid_before_utc + (
        signer.not_valid_after_utc - signer.not_valid_before_utc) / 2
    context = ValidationContext(trust_roots=roots, allow_fetching=False, moment=moment,
                                revocation_mode="soft-fail")
    validator = CertificateValidator(signature.signer_cert,
                                     intermediate_certs=signature.other_embedded_certs,
                                     validation_context=context)
    try:
        asyncio.run(validator.async_validate_path())
    except (PathBuildingError, PathValidationError, ValidationError):
        return False
    return True


def _timestamp_time(signer_info: cms.SignerInfo) -> dt.datetime | None:
    """The genTime claimed by the signature timestamp token (verified later by pyHanko)."""
    try:
        for attribute in signer_info["unsigned_attrs"] or ():
            if attribute["type"].native == "signature_time_stamp_token":
                token = attribute["values"][0]
                info = token["content"]["encap_content_info"]["content"].parsed
                moment: dt.datetime = info["gen_time"].native
                return moment
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    return None


def _identifier(signature: EmbeddedPdfSignature) -> str | None:
    """The /Subject of the signed revision's document information (the identifier)."""
    try:
        subject = revisions.document_info(signature.reader, signature.signed_revision).get(
            "/Subject")
    except Exception:  # absent or malformed: simply no identifier
        return None
    return str(subject) if isinstance(subject, (str, generic.TextStringObject)) else None


def _embedded_crls(reader: PdfFileReader,
                   authorities: Sequence[x509.Certificate]) -> Iterator[RevocationList]:
    """CRLs in the document security store, each decoded within a size bound."""
    try:
        streams = list(reader.root["/DSS"]["/CRLs"])[:_MAX_DSS_CRLS]
    except Exception:  # no DSS, or not the shape we read
        return
    for reference in streams:
        der = _bounded_stream(reference)
        if der is None:
            continue
        found = revocation.from_crl(der, authorities, "embedded CRL")
        if found is not None:
            yield found


def _bounded_stream(reference: object) -> bytes | None:
    # A DSS stream could be a decompression bomb: decode only plain Flate, bounded.
    try:
        stream = reference.get_object()  # type: ignore[attr-defined]
        if not isinstance(stream, generic.StreamObject) or "/DecodeParms" in stream:
            return None
        encoded = stream.encoded_data
        if encoded is None or len(encoded) > revocation.MAX_CRL_BYTES:
            return None
        kind = stream.get("/Filter")
        if kind is None:
            return bytes(encoded)
        if kind != "/FlateDecode":
            return None
        inflater = zlib.decompressobj()
        data = inflater.decompress(encoded, revocation.MAX_CRL_BYTES + 1)
        return data if len(data) <= revocation.MAX_CRL_BYTES else None
    except Exception:  # a damaged stream is simply not evidence
        return None


def _within_validity(certificate: x509.Certificate, moment: dt.datetime) -> bool:
    return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc


def _iso(moment: dt.datetime | None) -> str:
    return "an unknown time" if moment is None else moment.isoformat()
