"""Verification: honest verdicts on license PDFs and QR codes, for anyone.

:class:`Verifier` checks a PDF (:meth:`Verifier.verify_pdf`), a scanned code
(:meth:`Verifier.verify_qr`, online or against a cached trust list), or a
photo with a code (:meth:`Verifier.verify_image`), and returns a frozen
:class:`PdfVerdict` or :class:`QrVerdict`: one facet per check and one
:attr:`~Verdict.bottom_line`, VALID or the primary :class:`Reason` it is not.
They never raise for bad input. :mod:`verify.trust_list` publishes and loads
the signed trust list offline verifiers cache. ``docs/verification.md`` says
what each verdict means and what a third-party verifier must check.
"""

from verify.errors import ImageError, InputRefused, TrustListError, VerifyError
from verify.services import Verifier, verify_qr_offline
from verify.trust_list import TrustList
from verify.verdict import (
    MESSAGES,
    Facet,
    LicenseView,
    Message,
    Outcome,
    PdfVerdict,
    QrVerdict,
    Reason,
    Verdict,
)

__all__ = [
    "MESSAGES",
    "Facet",
    "ImageError",
    "InputRefused",
    "LicenseView",
    "Message",
    "Outcome",
    "PdfVerdict",
    "QrVerdict",
    "Reason",
    "TrustList",
    "TrustListError",
    "Verdict",
    "Verifier",
    "VerifyError",
    "verify_qr_offline",
]
