"""PAdES signing of license PDFs (baseline B-T, certifying, no changes allowed).

The issuing department certifies the page (DocMDP P=1) with subfilter
ETSI.CAdES.detached and a signature timestamp, all in ONE revision. Validation
data is deliberately not embedded: pyHanko writes it as a second revision
(B-LT), which poppler reports as "not total document signed" exactly as it
would a forged update. Long-term validation info, if wanted, is appended later
and :func:`signed_revision_digest` still finds the issued bytes.

pyHanko's synchronous ``PdfSigner.sign_pdf`` wraps its coroutine in
``asyncio.run``: it works in any thread without a running event loop (each
call gets its own loop), and cannot be called from inside one.

Two things keep signing cheap (measured on a license page: pyHanko alone
~17 ms, :func:`sign_pdf` ~8 ms):

* the signed attributes are the ones pyHanko gives a PAdES signature
  (content type, message digest, signing-certificate-v2), but the
  signing-certificate-v2 value is built once per certificate and handed over
  parsed from its DER. asn1crypto re-encodes a freshly built structure every
  time an enclosing one is encoded, about twice per nesting level, and pyHanko
  encodes the signed attributes several times per signature: that alone was
  ~9 ms;
* the result is not parsed again: the signature is the only revision pyHanko
  appends, so its ByteRange must end at the end of the file, which is checked
  on the appended bytes alone; ``sha256(data)`` is then the signed-revision
  digest (:func:`signed_revision_digest` parses a file, for those with later
  updates).
"""

from __future__ import annotations

import asyncio
import copy
import functools
import hashlib
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import tsp, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.attributes import CMSAttributeProvider, SignedAttributeProviderSpec
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.general import as_signing_certificate_v2
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps import TimeStamper

from signing.errors import SignatureError

DEFAULT_FIELD_NAME = "YiwangSeal"
# Room for the CMS in file bytes; it is written hex-encoded, so 16384 holds
# 8 KB of DER. Measured: 4.47 KB for a P-256 signer with its issuing CA and
# root embedded plus an RFC 3161 token from an RSA-2048 TSA with the same
# chain; the rest is headroom for longer names and larger TSA keys. A fixed
# size skips pyHanko's estimate, which signs a dummy and re-encodes certificates.
DEFAULT_BYTES_RESERVED = 16384
MD_ALGORITHM = "sha256"
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")


@dataclass(frozen=True)
class SignedPdf:
    """A signed license file and the SHA-256 (hex) of its signed revision.

    At issuance the signed revision is the whole file, so the digest is
    ``sha256(data)``; it stays the license's identity if LTV data is appended.
    """

    data: bytes
    signed_revision_sha256: str


def sign_pdf(
    pdf: bytes,
    *,
    signer: Signer,
    timestamper: TimeStamper,
    reason: str,
    location: str,
    field_name: str = DEFAULT_FIELD_NAME,
    bytes_reserved: int | None = DEFAULT_BYTES_RESERVED,
) -> SignedPdf:
    """Certify ``pdf`` with a PAdES B-T signature; nothing may change afterwards.

    ``signer`` holds the department's document-signing key and certificate
    chain, ``timestamper`` produces the signature timestamp. ``bytes_reserved``
    None lets pyHanko estimate the size (slower). Raises :class:`SignatureError`.
    """
    _require_no_running_loop()
    if not isinstance(pdf, bytes | bytearray) or not pdf:
        raise SignatureError("the document to sign must be non-empty bytes")
    if bytes_reserved is not None and (bytes_reserved < 1024 or bytes_reserved % 2):
        raise SignatureError("bytes_reserved must be an even number of at least 1024")
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        reason=reason,
        location=location,
        md_algorithm=MD_ALGORITHM,
        subfilter=fields.SigSeedSubFilter.PADES,
        certify=True,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        embed_validation_info=False,
        use_pades_lta=False,
    )
    pdf_signer = signers.PdfSigner(meta, signer=_with_pre_encoded_attributes(signer),
                                   timestamper=timestamper)
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(bytes(pdf)))
        output = pdf_signer.sign_pdf(writer, bytes_reserved=bytes_reserved)
    except (PyhankoSigningError, PdfError, ValueError, KeyError) as exc:
        hint = (
            f" (bytes_reserved={bytes_reserved} is too small for this chain and timestamp)"
            if bytes_reserved is not None and "larger than expected" in str(exc)
            else ""
        )
        raise SignatureError(f"signing the PDF failed: {exc}{hint}") from exc
    data = output.getvalue()
    _require_whole_file_signed(data, appended_from=len(pdf))
    return SignedPdf(data=data, signed_revision_sha256=hashlib.sha256(data).hexdigest())


def _require_whole_file_signed(data: bytes, *, appended_from: int) -> None:
    """The new signature's ByteRange runs from byte 0 to the end of the file.

    pyHanko appends one revision to the input; the signature dictionary is in
    it, so only the appended bytes are searched (the input's own text cannot
    be mistaken for it).
    """
    found = list(_BYTE_RANGE.finditer(data, appended_from))
    if len(found) != 1:
        raise SignatureError(f"the signed file has {len(found)} ByteRanges in its new revision")
    start, first_length, second_start, second_length = (int(n) for n in found[0].groups())
    if start != 0 or not first_length < second_start \
            or second_start + second_length != len(data):
        raise SignatureError("the new signature does not cover the whole file")


class _SigningCertificateV2(CMSAttributeProvider):
    attribute_type = "signing_certificate_v2"

    def __init__(self, der: bytes) -> None:
        self._der = der

    async def build_attr_value(self, dry_run: bool = False) -> tsp.SigningCertificateV2:
        return tsp.SigningCertificateV2.load(self._der)  # parsed, so encoded once


class _PadesSignedAttributes(SignedAttributeProviderSpec):
    """What pyHanko's ``CAdESSignedAttributeProviderSpec`` provides for a PAdES
    signature without CAdES extras (no signing time, no commitment type, no
    content timestamp): the signing-certificate-v2 attribute; pyHanko adds
    content type and message digest itself."""

    def __init__(self, signing_certificate_v2_der: bytes) -> None:
        self._der = signing_certificate_v2_der

    def signed_attr_providers(self, data_digest: bytes, digest_algorithm: str
                              ) -> Iterator[CMSAttributeProvider]:
        yield _SigningCertificateV2(self._der)


@functools.lru_cache(maxsize=64)
def _signing_certificate_v2_der(certificate_der: bytes) -> bytes:
    return bytes(as_signing_certificate_v2(x509.Certificate.load(certificate_der)).dump())


def _with_pre_encoded_attributes(signer: Signer) -> Signer:
    """A shallow copy of ``signer`` whose signed attributes come pre-encoded.

    The caller's signer is left as it is (the key store shares it); one that
    already brings its own attribute spec is used unchanged.
    """
    certificate = signer.signing_cert
    if signer.signed_attr_prov_spec is not None or certificate is None:
        return signer
    prepared = copy.copy(signer)
    prepared.signed_attr_prov_spec = _PadesSignedAttributes(
        _signing_certificate_v2_der(certificate.dump()))
    return prepared


def signed_revision_digest(data: bytes) -> str:
    """SHA-256 (hex) of the bytes the first signature covers, through its ByteRange end.

    For a file as issued this is the digest of the whole file; for one with
    later incremental updates (LTV data, or tampering) it is the digest of the
    issued revision, which is what the vault recorded.
    """
    end = _signed_revision_end(data)
    return hashlib.sha256(data[:end]).hexdigest()


def _signed_revision_end(data: bytes) -> int:
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        signatures = reader.embedded_signatures
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise SignatureError(f"the file is not a readable PDF: {exc}") from exc
    if not signatures:
        raise SignatureError("the file has no signature")
    first = min(signatures, key=lambda signature: signature.signed_revision)
    end = signed_range_end(first.byte_range, len(data))
    if end is None:
        raise SignatureError(f"signature ByteRange {list(first.byte_range)} does not fit the file")
    return end


def signed_range_end(byte_range: Sequence[Any], size: int) -> int | None:
    """Where a signature's ByteRange ends, if it is well formed for a file of ``size`` bytes.

    Well formed: four non-negative integers, starting at 0, the gap for the
    signature after the first part, the second part within the file. ``None``
    otherwise (the caller decides whether that is an error or a verdict).
    """
    try:
        values = [int(value) for value in byte_range]
    except (TypeError, ValueError):
        return None
    if len(values) != 4 or values[0] != 0 or min(values) < 0:
        return None
    _, first_length, second_start, second_length = values
    end = second_start + second_length
    if not first_length < second_start <= end <= size:
        return None
    return end


def _require_no_running_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise SignatureError(
        "sign_pdf is synchronous (pyHanko runs its own event loop); "
        "call it from a worker thread, not from a coroutine"
    )
