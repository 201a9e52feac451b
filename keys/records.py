"""Key records in the database: create, unwrap once, look up, check the master key.

:class:`KeyRecords` is the layer under :class:`keys.services.KeyStore`. It is
the only code that wraps or unwraps private keys. Parsed keys are cached by
kid: a record never changes except its status, and status is read from the
database on every lookup, never from the cache.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Select, and_, bindparam, case, or_, select
from sqlalchemy.orm import Session

from . import material
from .errors import (
    CorruptKeyRecordError,
    KeyNotFoundError,
    KeyStoreError,
    NotInitialisedError,
    WrongMasterKeyError,
)
from .material import PrivateKey, PublicKey, SigningKey
from .models import ACTIVE, RETIRED, IssuedCertificate, KeyRecord, KeyStoreMeta
from .wrapping import KeyWrapper, record_context

CHECK_VALUE_NAME = "master-key-check"
_CHECK_PLAINTEXT = b"Yiwang key store master-key check value v1"
_CHECK_CONTEXT = b"yiwang/keys/meta/master-key-check/v1"

# Issues the certificate of a freshly generated key pair.
Certify = Callable[[PrivateKey, PublicKey], x509.Certificate]


class KeyRecords:
    """Wraps new keys into records and unwraps records into cached :class:`SigningKey`s."""

    def __init__(self, wrapper: KeyWrapper) -> None:
        self._wrapper = wrapper
        self._keys: dict[str, SigningKey] = {}

    # -- master key check -------------------------------------------------------

    def write_check_value(self, session: Session) -> bool:
        """Write the master-key check value if absent (True), else verify it (False)."""
        meta = session.get(KeyStoreMeta, CHECK_VALUE_NAME)
        if meta is not None:
            self._verify_check_value(meta)
            return False
        if session.scalar(select(KeyRecord.kid).limit(1)) is not None:
            raise KeyStoreError(
                "the key store holds keys but no master-key check value; "
                "refusing to initialise over them"
            )
        check = self._wrapper.wrap(_CHECK_PLAINTEXT, _CHECK_CONTEXT)
        session.add(KeyStoreMeta(name=CHECK_VALUE_NAME, value=check))
        session.flush()
        return True

    def check_master_key(self, session: Session) -> None:
        meta = session.get(KeyStoreMeta, CHECK_VALUE_NAME)
        if meta is None:
            raise NotInitialisedError("the key store has not been initialised")
        self._verify_check_value(meta)

    def _verify_check_value(self, meta: KeyStoreMeta) -> None:
        try:
            value = self._wrapper.unwrap(meta.value, _CHECK_CONTEXT)
        except CorruptKeyRecordError:
            value = None
        if value != _CHECK_PLAINTEXT:
            raise WrongMasterKeyError(
                "the master key does not match the one this key store was initialised with"
            )

    # -- create and load --------------------------------------------------------

    def create(
        self,
        session: Session,
        purpose: str,
        algorithm: str,
        owner: str | None,
        *,
        now: dt.datetime,
        certify: Certify | None = None,
        issuer: SigningKey | None = None,
    ) -> SigningKey:
        """Generate a key pair, certify it if asked, wrap it and add its record.

        ``issuer`` is the CA key that signs the certificate; None means the
        certificate is self-signed (the root).
        """
        private, public = material.generate(algorithm)
        kid = secrets.token_urlsafe(8)
        public_der = material.public_bytes(algorithm, public)
        certificate = certify(private, public) if certify is not None else None
        session.add(KeyRecord(
            kid=kid, purpose=purpose, owner=owner, algorithm=algorithm,
            public_der=public_der,
            wrapped_private=self._wrapper.wrap(
                material.private_bytes(algorithm, private),
                _context(kid, purpose, owner, public_der),
            ),
            certificate_der=(
                None if certificate is None
                else certificate.public_bytes(serialization.Encoding.DER)
            ),
            status=ACTIVE, created_at=now,
        ))
        if certificate is not None:
            session.flush()  # the certificate row references the key row (no relationship())
            session.add(IssuedCertificate(
                serial=format(certificate.serial_number, "x"),
                issuer_kid=kid if issuer is None else issuer.kid,
                subject=certificate.subject.rfc4514_string(),
                kid=kid,
                not_before=certificate.not_valid_before_utc,
                not_after=certificate.not_valid_after_utc,
            ))
        session.flush()
        key = SigningKey(kid, algorithm, purpose, owner, private, public, certificate)
        self._keys[kid] = key
        return key

    def load(self, session: Session, kid: str) -> SigningKey:
        """The parsed key for ``kid``, unwrapped once per process."""
        cached = self._keys.get(kid)
        if cached is not None:
            return cached
        record = session.get(KeyRecord, kid)
        if record is None:
            raise KeyNotFoundError(f"no key with kid {kid!r}")
        context = _context(record.kid, record.purpose, record.owner, record.public_der)
        try:
            private_der = self._wrapper.unwrap(record.wrapped_private, context)
        except CorruptKeyRecordError:
            self.check_master_key(session)  # a wrong master key fails every record
            raise CorruptKeyRecordError(
                f"key {kid} ({record.purpose}) does not authenticate under the master key: "
                "the record was altered or its wrapped key belongs to another record"
            ) from None
        private = material.load_private(record.algorithm, private_der, kid=kid)
        public = material.load_public(record.algorithm, record.public_der, kid=kid)
        certificate = None
        if record.certificate_der is not None:
            certificate = parse_certificate(record.certificate_der, kid)
            if certificate.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ) != record.public_der:
                raise CorruptKeyRecordError(f"key {kid}: its certificate is for another key")
        key = SigningKey(
            kid, record.algorithm, record.purpose, record.owner, private, public, certificate
        )
        self._keys[kid] = key
        return key

    # -- look-ups -----------------------------------------------------------------

    def active(
        self,
        session: Session,
        purpose: str,
        owner: str | None = None,
        algorithm: str | None = None,
    ) -> SigningKey:
        kids = self.active_kids(session, purpose, owner, algorithm)
        if not kids:
            raise KeyNotFoundError(no_active_key(purpose, owner, algorithm))
        return self.load(session, kids[0])

    def active_set(
        self, session: Session, wanted: Sequence[tuple[str, str | None]]
    ) -> dict[tuple[str, str | None], SigningKey]:
        """The newest active key of each (purpose, owner) pair, all found in one query.

        ``owner=None`` means no owner, as in :meth:`active`. Pairs without an
        active key are absent. Keys come from the cache by kid, each checked
        against the purpose and owner its row names now.
        """
        if not wanted:
            return {}
        query = _active_set_query(tuple((purpose, owner is not None) for purpose, owner in wanted))
        owners = {f"owner_{index}": owner
                  for index, (_, owner) in enumerate(wanted) if owner is not None}
        newest: dict[tuple[str, str | None], str] = {}
        for kid, purpose, owner in session.execute(query, owners):
            newest.setdefault((purpose, owner), kid)
        found = {}
        for pair, kid in newest.items():
            key = self.load(session, kid)
            if (key.purpose, key.owner) != pair:
                raise CorruptKeyRecordError(
                    f"key {kid}: its row names {pair[0]} of {pair[1]}, but the key was "
                    f"authenticated as {key.purpose} of {key.owner}")
            found[pair] = key
        return found

    def active_kids(
        self, session: Session, purpose: str, owner: str | None, algorithm: str | None = None
    ) -> Sequence[str]:
        """Kids of the active keys, newest first; ``owner=None`` means no owner."""
        stmt = match(select(KeyRecord.kid), purpose, owner).where(KeyRecord.status == ACTIVE)
        if algorithm is not None:
            stmt = stmt.where(KeyRecord.algorithm == algorithm)
        return session.scalars(stmt.order_by(KeyRecord.created_at.desc(), KeyRecord.kid)).all()

    def published(
        self, session: Session, purpose: str, owner: str | None, now: dt.datetime
    ) -> list[tuple[str, str]]:
        """(kid, algorithm) of keys that verify at ``now``, active first, newest first.

        ``owner=None`` means every owner.
        """
        stmt = select(KeyRecord.kid, KeyRecord.algorithm).where(
            KeyRecord.purpose == purpose,
            or_(
                KeyRecord.status == ACTIVE,
                and_(KeyRecord.status == RETIRED, KeyRecord.publish_until > now),
            ),
        )
        if owner is not None:
            stmt = stmt.where(KeyRecord.owner == owner)
        active_first = case((KeyRecord.status == ACTIVE, 0), else_=1)
        rows = session.execute(
            stmt.order_by(active_first, KeyRecord.created_at.desc(), KeyRecord.kid))
        return [(kid, algorithm) for kid, algorithm in rows]


def match(stmt: Any, purpose: str, owner: str | None) -> Any:
    """Restrict a KeyRecord query to ``purpose`` and exactly ``owner``."""
    owner_clause = KeyRecord.owner.is_(None) if owner is None else KeyRecord.owner == owner
    return stmt.where(KeyRecord.purpose == purpose, owner_clause)


@functools.lru_cache(maxsize=16)
def _active_set_query(shape: tuple[tuple[str, bool], ...]) -> Select[str, str, str | None]:
    # Built once per shape (purposes, and which have an owner), owners bound per call.
    clauses = [
        and_(KeyRecord.purpose == purpose,
             (KeyRecord.owner == bindparam(f"owner_{index}")) if has_owner
             else KeyRecord.owner.is_(None))
        for index, (purpose, has_owner) in enumerate(shape)
    ]
    return select(KeyRecord.kid, KeyRecord.purpose, KeyRecord.owner).where(
        KeyRecord.status == ACTIVE, or_(*clauses)
    ).order_by(KeyRecord.created_at.desc(), KeyRecord.kid)


def parse_certificate(der: bytes, kid: str) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise CorruptKeyRecordError(f"key {kid}: certificate does not parse") from None


def no_active_key(purpose: str, owner: str | None, algorithm: str | None = None) -> str:
    """The message of a :class:`KeyNotFoundError` for a missing active key."""
    wanted = " ".join(filter(None, [algorithm, purpose]))
    return f"no active {wanted} key" + (f" for owner {owner}" if owner else "")


def require_aware(now: dt.datetime) -> None:
    """Refuse a naive time before it reaches a query or a record."""
    # A naive time would be refused at flush (or, compared as local time,
    # silently shift publish windows); say so up front.
    if now.tzinfo is None or now.utcoffset() is None:
        raise KeyStoreError("times given to the key store must be timezone-aware (UTC)")


def _context(kid: str, purpose: str, owner: str | None, public_der: bytes) -> bytes:
    # Binding the public key too means a swapped public_der never passes as the
    # key's own, so the public keys handed out for verification are authentic.
    return record_context(kid, purpose, owner) + b"\x00" + hashlib.sha256(public_der).digest()
