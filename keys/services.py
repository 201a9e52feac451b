"""The key store: the recipe API other packages call for keys and certificates.

:class:`KeyStore` keeps every private key wrapped in the database and hands
out parsed keys, pyHanko signers, certificates and CRLs. Methods take the
caller's ``Session`` first; they flush but never commit, so key changes ride
in the caller's transaction. Parsed keys, signers and time stampers are cached
per ``KeyStore`` by kid (records never change except their status, which is
read from the database on every lookup), so repeated calls parse nothing;
:meth:`KeyStore.department_materials` finds all a license is signed with in one
query.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any, Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from pyhanko.sign.signers import SimpleSigner
from pyhanko.sign.timestamps import DummyTimeStamper
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import authority, departments, material, pades, secrets, sm2, trust
from .authority import CertificateInfo, PkiLocations
from .departments import DepartmentKeys, DepartmentMaterials
from .errors import KeyNotFoundError, KeyStoreError, NotInitialisedError
from .jws import public_jwk
from .material import Algorithm, PublicKey, SigningKey
from .models import ACTIVE, RETIRED, KeyRecord, Purpose
from .records import KeyRecords, match, no_active_key, parse_certificate, require_aware
from .wrapping import AES_256_GCM, KeyWrapper


@dataclasses.dataclass(frozen=True)
class KeyInfo:
    """A key record as listed to operators (no key material)."""

    kid: str
    purpose: str
    owner: str | None
    algorithm: str
    status: str
    created_at: dt.datetime
    retired_at: dt.datetime | None
    publish_until: dt.datetime | None
    certificate_serial: str | None
    certificate_not_after: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            name: value.isoformat() if isinstance(value, dt.datetime) else value
            for name, value in dataclasses.asdict(self).items()
        }


class KeyStore:
    """Keys, certificates and CRLs, all wrapped under one master key.

    ``pki_base_url`` is where the CA certificates and CRLs are published
    (``root.crt``, ``issuing.crt``, ``root.crl``, ``issuing.crl`` under it);
    the CRL URLs are written into every certificate issued.
    """

    def __init__(
        self, master_key: bytes, *, wrap_algorithm: str = AES_256_GCM, pki_base_url: str
    ) -> None:
        self._records = KeyRecords(KeyWrapper(master_key, wrap_algorithm))
        self._master_key = master_key  # only for derive_secret and the personal-data helpers
        self.locations = PkiLocations(pki_base_url)
        self._signers: dict[str, SimpleSigner] = {}
        self._stampers: dict[str, DummyTimeStamper] = {}

    def __repr__(self) -> str:
        return f"<KeyStore {self.locations.base_url}>"

    # -- set-up -------------------------------------------------------------------

    def initialise(
        self, session: Session, *, now: dt.datetime, common_name: str = "Yiwang Root CA"
    ) -> tuple[str, ...]:
        """Create whatever is missing of the service's keys; return the new kids.

        A fresh store gets the master-key check value, the root CA, the issuing
        CA, the TSA (RSA-2048) and the identity provider's token keys (RS256 and
        ES256). An initialised one first has its master key checked
        (:class:`WrongMasterKeyError`, nothing created), then only gaps filled.
        """
        require_aware(now)
        records = self._records
        records.write_check_value(session)
        created: list[str] = []
        if not records.active_kids(session, Purpose.ROOT_CA, None):
            root = authority.create_root(records, session, common_name=common_name, now=now)
            created.append(root.kid)
        if not records.active_kids(session, Purpose.ISSUING_CA, None):
            created.append(authority.create_issuing_ca(
                records, session, self.locations, now=now).kid)
        if not records.active_kids(session, Purpose.TSA, None):
            created.append(authority.create_tsa(records, session, self.locations, now=now).kid)
        for algorithm in (Algorithm.RS256, Algorithm.ES256):
            if not records.active_kids(session, Purpose.IDP_TOKEN, None, algorithm):
                created.append(
                    records.create(session, Purpose.IDP_TOKEN, algorithm, None, now=now).kid)
        return tuple(created)

    def check_master_key(self, session: Session) -> None:
        """Raise :class:`WrongMasterKeyError` or :class:`NotInitialisedError`, or return."""
        self._records.check_master_key(session)

    # -- keys -------------------------------------------------------------------

    def active_key(
        self,
        session: Session,
        purpose: str,
        owner: str | None = None,
        algorithm: str | None = None,
    ) -> SigningKey:
        """The newest active key of ``purpose`` for exactly ``owner``.

        ``owner=None`` selects a service key (one with no owner), never "any
        department's". ``algorithm`` picks among several (``idp-token``).
        """
        return self._records.active(session, purpose, owner, algorithm)

    def key(self, session: Session, kid: str) -> SigningKey:
        """The key with this kid, whatever its status."""
        return self._records.load(session, kid)

    def verification_keys(
        self, session: Session, purpose: str, owner: str | None = None, *, now: dt.datetime
    ) -> dict[str, PublicKey]:
        """kid → public key of the keys that verify at ``now``, active ones first.

        Active keys plus retired ones still published (``publish_until > now``).
        ``owner=None`` includes every owner's keys; pass a USCC to accept only
        that department's.
        """
        require_aware(now)
        return {
            kid: self._records.load(session, kid).public_key
            for kid, _ in self._records.published(session, purpose, owner, now)
        }

    def jwks(
        self, session: Session, purposes: Iterable[str], *, now: dt.datetime
    ) -> dict[str, Any]:
        """A JWK Set of the published ES256/RS256 keys of ``purposes``."""
        require_aware(now)
        entries = []
        for purpose in purposes:
            for kid, algorithm in self._records.published(session, purpose, None, now):
                if algorithm in material.JOSE_ALGORITHMS:
                    public_key = self._records.load(session, kid).public_key
                    entries.append(public_jwk(kid, public_key, algorithm))
        return {"keys": entries}

    def rotate(
        self,
        session: Session,
        purpose: str,
        owner: str | None = None,
        *,
        now: dt.datetime,
        publish_for: dt.timedelta,
        algorithm: str | None = None,
    ) -> str:
        """Replace the active key of ``purpose``/``owner``; return the new kid.

        The new key has the same algorithm, and for department signing and the
        TSA a new certificate. The old key retires and stays published (still
        verifies) for ``publish_for``. Where several algorithms are active
        (``idp-token``), ``algorithm`` names the one to rotate.
        """
        require_aware(now)
        if purpose in (Purpose.ROOT_CA, Purpose.ISSUING_CA):
            raise KeyStoreError(f"{purpose} keys cannot be rotated: they anchor every certificate")
        if publish_for < dt.timedelta(0):
            raise KeyStoreError("publish_for must not be negative")
        stmt = match(select(KeyRecord), purpose, owner).where(KeyRecord.status == ACTIVE)
        if algorithm is not None:
            stmt = stmt.where(KeyRecord.algorithm == algorithm)
        old = session.scalars(stmt.order_by(KeyRecord.created_at.desc(), KeyRecord.kid)).all()
        if not old:
            raise KeyNotFoundError(no_active_key(purpose, owner))
        algorithms = sorted({record.algorithm for record in old})
        if len(algorithms) > 1:
            raise KeyStoreError(
                f"{purpose} has active keys of several algorithms ({', '.join(algorithms)}); "
                "name the one to rotate")
        if purpose == Purpose.TSA:
            new = authority.create_tsa(self._records, session, self.locations, now=now)
        elif purpose == Purpose.DEPT_SIGNING and owner is not None:
            name = authority.organisation_of(self._records.load(session, old[0].kid))
            new = authority.create_department_signing(
                self._records, session, self.locations, uscc=owner, name=name, now=now)
        else:
            new = self._records.create(session, purpose, algorithms[0], owner, now=now)
        for record in old:
            record.status = RETIRED
            record.retired_at = now
            record.publish_until = now + publish_for
        session.flush()
        return new.kid

    def list_keys(self, session: Session) -> list[KeyInfo]:
        """Every key record, by purpose, owner and age (no key material)."""
        records = session.scalars(select(KeyRecord).order_by(
            KeyRecord.purpose, KeyRecord.owner, KeyRecord.created_at, KeyRecord.kid)).all()
        infos = []
        for record in records:
            serial = not_after = None
            if record.certificate_der is not None:
                certificate = parse_certificate(record.certificate_der, record.kid)
                serial = format(certificate.serial_number, "x")
                not_after = certificate.not_valid_after_utc
            infos.append(KeyInfo(
                kid=record.kid, purpose=record.purpose, owner=record.owner,
                algorithm=record.algorithm, status=record.status,
                created_at=record.created_at, retired_at=record.retired_at,
                publish_until=record.publish_until,
                certificate_serial=serial, certificate_not_after=not_after,
            ))
        return infos

    # -- departments --------------------------------------------------------------

    def create_department_keys(
        self, session: Session, *, uscc: str, name: str, now: dt.datetime
    ) -> DepartmentKeys:
        """Give a department (by USCC) the keys it lacks: PDF signing, QR, SM2."""
        require_aware(now)
        return departments.create_department_keys(
            self._records, session, self.locations, uscc=uscc, name=name, now=now)

    def department_materials(self, session: Session, uscc: str) -> DepartmentMaterials:
        """The department's active signing, QR and SM2 keys and the TSA key, in one query.

        With the pyHanko signer and time stamper of those keys (cached per
        key, as :meth:`pdf_signer` and :meth:`timestamper` give them).
        Raises :class:`KeyNotFoundError` for a key the department lacks and
        :class:`NotInitialisedError` without a TSA key.
        """
        wanted = [(Purpose.DEPT_SIGNING, uscc), (Purpose.DEPT_QR, uscc),
                  (Purpose.DEPT_SM2, uscc), (Purpose.TSA, None)]
        found = self._records.active_set(session, wanted)
        if (Purpose.TSA, None) not in found:
            raise NotInitialisedError(
                "the key store has no active tsa key; initialise it first")
        for purpose, owner in wanted:
            if (purpose, owner) not in found:
                raise KeyNotFoundError(no_active_key(purpose, owner))
        signing, qr, sm2_key, tsa = (found[pair] for pair in wanted)
        return DepartmentMaterials(
            uscc=uscc, signing=signing, qr=qr, sm2=sm2_key, tsa=tsa,
            signer=self._signer_of(session, signing), timestamper=self._stamper_of(session, tsa))

    def pdf_signer(self, session: Session, uscc: str) -> SimpleSigner:
        """The pyHanko signer of the department's active document-signing key.

        It embeds the issuing CA and the root. Cached per key.
        """
        return self._signer_of(session, self.active_key(session, Purpose.DEPT_SIGNING, uscc))

    def timestamper(self, session: Session, *, at: dt.datetime | None = None) -> DummyTimeStamper:
        """An in-process RFC 3161 time stamper signing with the TSA key.

        ``at`` fixes the time it stamps (tests); by default it reads the clock.
        """
        key = self._service_key(session, Purpose.TSA)
        if at is not None:
            require_aware(at)
            return pades.make_timestamper(key, self.ca_chain(session), fixed_dt=at)
        return self._stamper_of(session, key)

    def _signer_of(self, session: Session, key: SigningKey) -> SimpleSigner:
        signer = self._signers.get(key.kid)
        if signer is None:
            signer = self._signers[key.kid] = pades.make_signer(key, self.ca_chain(session))
        return signer

    def _stamper_of(self, session: Session, key: SigningKey) -> DummyTimeStamper:
        stamper = self._stampers.get(key.kid)
        if stamper is None:
            stamper = self._stampers[key.kid] = pades.make_timestamper(key, self.ca_chain(session))
        return stamper

    def sm2_sign(self, session: Session, uscc: str, message: bytes) -> tuple[str, bytes]:
        """Sign with the department's active SM2 key: (kid, DER signature)."""
        key = self.active_key(session, Purpose.DEPT_SM2, uscc)
        assert isinstance(key.private_key, bytes) and isinstance(key.public_key, bytes)
        return key.kid, sm2.sign(key.private_key, key.public_key, message)

    def sm2_public_key(self, session: Session, kid: str) -> bytes:
        """The 65-byte public point (04||X||Y) of an SM2 key, active or retired."""
        key = self._records.load(session, kid)
        if key.algorithm != Algorithm.SM2 or not isinstance(key.public_key, bytes):
            raise KeyNotFoundError(f"key {kid} is not an SM2 key")
        return key.public_key

    # -- PKI ------------------------------------------------------------------------

    def root_certificate(self, session: Session) -> x509.Certificate:
        return authority.certificate_of(self._service_key(session, Purpose.ROOT_CA))

    def issuing_certificate(self, session: Session) -> x509.Certificate:
        return authority.certificate_of(self._service_key(session, Purpose.ISSUING_CA))

    def trust_roots(self, session: Session) -> list[asn1_x509.Certificate]:
        """The trust anchors as asn1crypto certificates (for pyHanko validation)."""
        return [pades.asn1_certificate(self.root_certificate(session))]

    def ca_chain(self, session: Session) -> list[asn1_x509.Certificate]:
        """Issuing CA then root, as asn1crypto certificates (what signatures embed)."""
        return [
            pades.asn1_certificate(self.issuing_certificate(session)),
            pades.asn1_certificate(self.root_certificate(session)),
        ]

    def revoke_certificate(
        self, session: Session, serial_hex: str, *, reason: str, now: dt.datetime
    ) -> CertificateInfo:
        """Revoke an issued certificate; ``reason`` is an RFC 5280 name (keyCompromise).

        A revoked department, TSA or trust-list signer certificate also retires
        its key, so the next :meth:`create_department_keys` (or rotation, or
        :meth:`trust_list_key`) issues a fresh one.
        """
        require_aware(now)
        return authority.revoke(session, serial_hex, reason=reason, now=now)

    def certificate(self, session: Session, serial_hex: str) -> CertificateInfo:
        """What the store knows of an issued certificate, revocation included."""
        return authority.certificate_info(session, serial_hex)

    def crl(
        self, session: Session, which: Literal["issuing", "root"] = "issuing", *, now: dt.datetime
    ) -> bytes:
        """A freshly signed DER CRL of the issuing CA or the root (nextUpdate now + 1 day)."""
        require_aware(now)
        if which not in ("issuing", "root"):
            raise KeyStoreError(f"no CRL named {which!r}; use 'issuing' or 'root'")
        purpose = Purpose.ISSUING_CA if which == "issuing" else Purpose.ROOT_CA
        return authority.crl(self._service_key(session, purpose), session, now=now)

    def trust_list_key(self, session: Session, *, now: dt.datetime) -> SigningKey:
        """The ES256 key that signs the published trust list (created when missing)."""
        require_aware(now)
        return trust.trust_list_signer(self._records, self.locations, session, now=now)

    # -- secrets derived from the master key (see keys.secrets) -------------------

    def derive_secret(self, label: str) -> bytes:
        """A 32-byte secret for one purpose (CSRF, cookies, pairwise subjects)."""
        return secrets.derive(self._master_key, label)

    def seal(self, label: str, plaintext: bytes, context: bytes = b"") -> bytes:
        """Encrypt personal data under the key derived for ``label``."""
        return secrets.seal(secrets.derive(self._master_key, label), plaintext, context)

    def unseal(self, label: str, sealed: bytes, context: bytes = b"") -> bytes:
        return secrets.unseal(secrets.derive(self._master_key, label), sealed, context)

    def blind_index(self, label: str, value: str) -> str:
        """A keyed hash to find a row by a personal value without storing it."""
        return secrets.blind_index(secrets.derive(self._master_key, label), value)

    def _service_key(self, session: Session, purpose: str) -> SigningKey:
        try:
            return self.active_key(session, purpose)
        except KeyNotFoundError:
            raise NotInitialisedError(
                f"the key store has no active {purpose} key; initialise it first") from None
