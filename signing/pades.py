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
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import dataclass

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyhankoSigningError
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
    pdf_signer = signers.PdfSigner(meta, signer=signer, timestamper=timestamper)
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
    end = _signed_revision_end(data)
    if end != len(data):
        raise SignatureError("the new signature does not cover the whole file")
    return SignedPdf(data=data, signed_revision_sha256=hashlib.sha256(data).hexdigest())


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
    byte_range = [int(value) for value in first.byte_range]
    if len(byte_range) != 4 or byte_range[0] != 0 or min(byte_range) < 0:
        raise SignatureError(f"malformed signature ByteRange {byte_range}")
    _, first_length, second_start, second_length = byte_range
    end = second_start + second_length
    if not first_length < second_start <= end <= len(data):
        raise SignatureError(f"signature ByteRange {byte_range} does not fit the file")
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
