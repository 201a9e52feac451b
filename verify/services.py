"""The verifier: files and codes in, frozen verdicts out.

:class:`Verifier` binds the checks of :mod:`verify.pdf` and :mod:`verify.qr`
to the key store and the vault of one session. Its methods never raise for
bad input; a failure of our own (the database unreachable) makes the facets
it prevented *not checked*, so the bottom line is UNAVAILABLE, never VALID.

:func:`verify_qr_offline` needs only a verified trust list: it is what an
offline verifier app does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
import weakref
from collections.abc import Callable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.orm import Session

from keys import KeyStore, Purpose
from keys import trust as key_trust
from license_vault.models import Department
from verify import images, pdf, qr, trust_list, vault
from verify.errors import ImageError, VerifyError
from verify.revocation import RevocationList
from verify.trust_list import QrKey, TrustList
from verify.verdict import (
    NOT_CHECKED,
    Facet,
    LicenseView,
    PdfVerdict,
    QrVerdict,
    Reason,
    Verdict,
)
from yiwang.database import utcnow

__all__ = ["EARLIEST_TIME", "LATEST_TIME", "LiveKeys", "Verifier", "verification_time",
           "verify_qr_offline"]

log = logging.getLogger(__name__)

_OFFLINE = "offline: the vault was not consulted"
_UNAVAILABLE = "the vault could not be consulted"
EARLIEST_TIME = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST_TIME = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
# Offline, the vault facets are never checked (and not required): the same
# frozen facets serve every verdict.
_NOT_CONSULTED = Facet.skip(_OFFLINE)
# The facets of each verdict that only the vault can answer.
_QR_VAULT_FACETS = ("in_vault", "matches_vault", "status", "in_force")
_PDF_VAULT_FACETS = ("in_vault", "matches_vault", "seal_ok", "status", "in_force")


class LiveKeys:
    """The key store's QR keys as published at a moment (the online key source)."""

    def __init__(self, session: Session, keystore: KeyStore, at: dt.datetime) -> None:
        self._session = session
        self._keystore = keystore
        self._at = at

    def qr_key(self, kid: str) -> QrKey | None:
        key = key_trust.published_key(self._keystore, self._session, kid, Purpose.DEPT_QR,
                                      now=self._at)
        if key is None or key.owner is None or not isinstance(
                key.public_key, ec.EllipticCurvePublicKey):
            return None
        return QrKey(kid=key.kid, owner=key.owner, public_key=key.public_key,
                     valid_from=key.created_at, retired_at=key.retired_at,
                     valid_until=key.publish_until)

    def department_name(self, uscc: str) -> str | None:
        return self._session.scalar(select(Department.name).where(Department.uscc == uscc))


def verify_qr_offline(text: object, trust: TrustList, *, at: dt.datetime | None = None
                      ) -> QrVerdict:
    """Check a scanned code with a cached, verified trust list only (no network, no vault)."""
    at = _moment(at)
    findings = qr.examine(text, trust, issuer=trust.issuer, at=at)
    payload = findings.payload
    identifier = issuer_name = None
    in_force = NOT_CHECKED
    if payload is not None:
        identifier = payload.identifier
        issuer_name = trust.department_name(payload.issuer_uscc)
        in_force = qr.in_force_by_dates(payload, at)
    return QrVerdict.of_every_field(
        at=at, online=False, vault_view=None, identifier=identifier, kid=findings.kid,
        payload=payload, issuer_name=issuer_name, well_formed=findings.well_formed,
        known_key=findings.known_key, signature=findings.signature, in_vault=_NOT_CONSULTED,
        matches_vault=_NOT_CONSULTED, status=_NOT_CONSULTED, in_force=in_force)


@dataclasses.dataclass
class Verifier:
    """Verification with the key store and vault of ``session``.

    ``issuer`` is the service's public base URL (QR codes point at
    ``<issuer>/v/``). ``trust`` is the cached trust list offline checks use;
    without one, :meth:`offline_trust_list` signs one from the local key
    store and verifies it as a verifier app would.
    """

    session: Session
    keystore: KeyStore
    issuer: str
    trust: TrustList | None = None
    clock: Callable[[], dt.datetime] = utcnow
    _anchors: tuple[x509.Certificate, x509.Certificate] | None = dataclasses.field(
        default=None, init=False, repr=False)

    # -- QR codes ------------------------------------------------------------------------

    def verify_qr(self, text: object, at: dt.datetime | None = None, online: bool = True
                  ) -> QrVerdict:
        at = _moment(at, self.clock)
        if not online:
            return verify_qr_offline(text, self.offline_trust_list(), at=at)
        findings = qr.examine(text, LiveKeys(self.session, self.keystore, at),
                              issuer=self.issuer, at=at)
        facets = findings.facets()
        view = None
        payload = findings.payload
        if payload is not None and findings.token is not None and findings.kid is not None:
            try:
                in_vault, matches, license = vault.match_qr(
                    self.session, payload, token=findings.token, kid=findings.kid)
                facets.update(in_vault=in_vault, matches_vault=matches)
                if license is not None and matches.passed:
                    facets["status"], facets["in_force"], status = vault.status_facets(
                        self.session, license, at)
                    view = vault.license_view(self.session, license, status)
            except Exception:  # our failure, not the input's: no verdict
                self._unavailable(facets, _QR_VAULT_FACETS)
                view = None
        return QrVerdict(at=at, online=True, vault_view=view, kid=findings.kid,
                         identifier=None if payload is None else payload.identifier,
                         payload=payload, issuer_name=None if view is None else view.issuer_name,
                         **facets)

    def verify_image(self, data: object, at: dt.datetime | None = None, online: bool = True
                     ) -> QrVerdict:
        """Find the QR code in a photo or screenshot and verify it."""
        at = _moment(at, self.clock)
        try:
            text = images.decode_qr(data)  # type: ignore[arg-type]
        except ImageError as exc:
            return QrVerdict(at=at, online=online,
                             well_formed=Facet.fail(Reason.MALFORMED, str(exc)))
        return self.verify_qr(text, at, online)

    # -- PDF files -------------------------------------------------------------------------

    def verify_pdf(self, data: object, at: dt.datetime | None = None, online: bool = True
                   ) -> PdfVerdict:
        """The verdict on a license PDF. Synchronous: pyHanko runs its own event loop,
        so this is called from a thread without one (VerifyError otherwise)."""
        _require_no_running_loop()
        at = _moment(at, self.clock)
        try:
            trust = self._pdf_trust(online, at)
        except Exception:
            log.exception("cannot load the trust anchors")
            return PdfVerdict(at=at, online=online,
                              well_formed=Facet.skip("the trust anchors could not be loaded"))
        findings = pdf.examine(data, trust)
        facets = dict(findings.facets)
        view = None
        digest = findings.signed_revision_sha256
        if not online:
            for name in _PDF_VAULT_FACETS:
                facets[name] = _NOT_CONSULTED
        elif findings.genuine and findings.signer is not None and digest is not None:
            try:
                view = self._pdf_vault(findings, digest, facets, at)
            except Exception:
                self._unavailable(facets, _PDF_VAULT_FACETS)
                view = None
        signer = findings.signer
        return PdfVerdict(
            at=at, online=online, vault_view=view, identifier=findings.identifier,
            signing_time=findings.signing_time, signed_revision_sha256=digest,
            signer=None if signer is None else signer.subject.rfc4514_string(), **facets)

    def _pdf_vault(self, findings: pdf.PdfFindings, digest: str, facets: dict[str, Facet],
                   at: dt.datetime) -> LicenseView | None:
        assert findings.signer is not None and findings.signed_revision is not None
        in_vault, matches, license = vault.match_pdf(
            self.session, digest=digest,
            identifier=findings.identifier, signer_serial=findings.signer.serial_number,
            signer_uscc=_serial_number(findings.signer))
        facets.update(in_vault=in_vault, matches_vault=matches)
        if license is None or not matches.passed:
            return None
        facets["seal_ok"] = vault.seal_facet(self.session, self.keystore, license,
                                             findings.signed_revision)
        if not facets["seal_ok"].passed:
            return None
        facets["status"], facets["in_force"], status = vault.status_facets(
            self.session, license, at)
        return vault.license_view(self.session, license, status)

    def _pdf_trust(self, online: bool, at: dt.datetime) -> pdf.PdfTrust:
        if not online:
            cached = self.offline_trust_list()
            return pdf.PdfTrust((cached.root,), (cached.root, cached.issuing),
                                cached.revocation_lists)
        if self._anchors is None:
            self._anchors = _anchors(self.session, self.keystore)
        root = self._anchors[0]

        def served(certificates: Sequence[x509.Certificate]) -> list[RevocationList]:
            # What /pki/*.crl would serve now, read from the records those CRLs are
            # signed from: revocation state as of this moment (a CRL's own
            # thisUpdate is cut to the second), for these certificates only.
            now = max(self.clock(), at)
            known = key_trust.revocation_times(
                self.session, [certificate.serial_number for certificate in certificates])
            lists = []
            for certificate in certificates:
                serial = certificate.serial_number
                if serial not in known:
                    continue  # not one our CAs issued: nothing to say about it
                revoked_at = known[serial]
                revoked = {} if revoked_at is None else {serial: revoked_at}
                lists.append(RevocationList(certificate.issuer.public_bytes(), now, revoked,
                                            "served CRL", frozenset({serial})))
            return lists

        return pdf.PdfTrust((root,), self._anchors, served)

    # -- anything uploaded -----------------------------------------------------------------

    def verify_file(self, data: object, at: dt.datetime | None = None, online: bool = True
                    ) -> Verdict:
        """A PDF, an image with a QR code, or the text of a code: whichever ``data`` is."""
        if isinstance(data, (bytes, bytearray)):
            head = bytes(data[:1024])
            if head.startswith(b"%PDF-"):
                return self.verify_pdf(data, at, online)
            if images.looks_like_image(head):
                return self.verify_image(data, at, online)
            text = _short_text(bytes(data))
            if text is not None and "/v/" in text:
                return self.verify_qr(text, at, online)
        elif isinstance(data, str):
            return self.verify_qr(data, at, online)
        return PdfVerdict(at=_moment(at, self.clock), online=online, well_formed=Facet.fail(
            Reason.MALFORMED, "neither a PDF, nor an image, nor a verification URL"))

    # -- the trust list offline checks use ----------------------------------------------------

    def offline_trust_list(self) -> TrustList:
        """The cached trust list; without one, one signed now by the local key store.

        Signing may create the trust-list key (flushed into the session).
        """
        if self.trust is None:
            now = self.clock()
            token = trust_list.publish(self.session, self.keystore, issuer=self.issuer, now=now)
            self.trust = trust_list.load(
                token, root=self.keystore.root_certificate(self.session), at=now)
        return self.trust

    def _unavailable(self, facets: dict[str, Facet], names: tuple[str, ...]) -> None:
        log.exception("verification could not consult the vault")
        try:
            self.session.rollback()
        except Exception:
            log.warning("rollback after a vault failure failed too", exc_info=True)
        for name in names:
            facets[name] = Facet.skip(_UNAVAILABLE)


def verification_time(at: object) -> dt.datetime:
    """``at`` in UTC if it is a timezone-aware time verdicts can be given for; else VerifyError.

    The range leaves room for date arithmetic (China dates, validity periods)
    that would overflow near the ends of what ``datetime`` holds.
    """
    if not isinstance(at, dt.datetime) or at.utcoffset() is None:
        raise VerifyError("the verification time must be a timezone-aware datetime")
    try:
        moment = at.astimezone(dt.UTC)
    except OverflowError:
        moment = None
    if moment is None or not EARLIEST_TIME <= moment < LATEST_TIME:
        raise VerifyError(f"the verification time must lie between {EARLIEST_TIME.year} "
                          f"and {LATEST_TIME.year - 1}")
    return moment


def _moment(at: dt.datetime | None, clock: Callable[[], dt.datetime] = utcnow) -> dt.datetime:
    return clock() if at is None else verification_time(at)


# The root and issuing CA certificates per key store, for a few minutes: they are
# never rotated (keys refuses to), and reading them costs two queries a file.
_ANCHORS: weakref.WeakKeyDictionary[KeyStore, tuple[float, tuple[x509.Certificate,
                                                                 x509.Certificate]]] = (
    weakref.WeakKeyDictionary())
_ANCHORS_SECONDS = 300.0


def _anchors(session: Session, keystore: KeyStore) -> tuple[x509.Certificate, x509.Certificate]:
    cached = _ANCHORS.get(keystore)
    if cached is not None and time.monotonic() - cached[0] < _ANCHORS_SECONDS:
        return cached[1]
    anchors = (keystore.root_certificate(session), keystore.issuing_certificate(session))
    _ANCHORS[keystore] = (time.monotonic(), anchors)
    return anchors


def _require_no_running_loop() -> None:
    # Inside a running loop pyHanko cannot validate; that must not pass as a
    # broken signature.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise VerifyError("verify_pdf is synchronous (pyHanko runs its own event loop); call it "
                      "from a worker thread, not from a coroutine")


def _serial_number(certificate: x509.Certificate) -> str | None:
    values = certificate.subject.get_attributes_for_oid(x509.NameOID.SERIAL_NUMBER)
    return str(values[0].value) if values else None


def _short_text(data: bytes) -> str | None:
    if len(data) > 4096:
        return None
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
