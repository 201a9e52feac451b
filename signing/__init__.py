"""License documents: render the face as a PDF with a QR code, build and check the
signed QR payload, and certify the PDF with a PAdES B-T signature. The package
has no database and no web framework; the vault calls it in order — render with
:func:`render_license` (the QR carries :func:`qr_url` of a token from
:func:`sign_payload` over :func:`build_payload`), then :func:`sign_pdf` — and
verifiers use :func:`parse_qr_url`, :func:`verify_payload` and
:func:`signed_revision_digest`. Every error is a :class:`SigningError`.
"""

from signing.errors import (
    FontNotFoundError,
    PayloadError,
    PayloadSignatureError,
    PayloadTooLargeError,
    RenderError,
    SignatureError,
    SigningError,
)
from signing.pades import DEFAULT_BYTES_RESERVED, SignedPdf, sign_pdf, signed_revision_digest
from signing.payload import (
    PAYLOAD_VERSION,
    QrPayload,
    VerifiedPayload,
    build_payload,
    canonical_face_json,
    face_digest,
    mask_holder_name,
    parse_qr_url,
    qr_url,
    sign_payload,
    verify_payload,
)
from signing.render import FaceRow, LicenseFace, render_license

__all__ = [
    "DEFAULT_BYTES_RESERVED",
    "PAYLOAD_VERSION",
    "FaceRow",
    "FontNotFoundError",
    "LicenseFace",
    "PayloadError",
    "PayloadSignatureError",
    "PayloadTooLargeError",
    "QrPayload",
    "RenderError",
    "SignatureError",
    "SignedPdf",
    "SigningError",
    "VerifiedPayload",
    "build_payload",
    "canonical_face_json",
    "face_digest",
    "mask_holder_name",
    "parse_qr_url",
    "qr_url",
    "render_license",
    "sign_payload",
    "sign_pdf",
    "signed_revision_digest",
    "verify_payload",
]
