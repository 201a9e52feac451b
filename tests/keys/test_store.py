"""The key store at rest: initialisation, master-key checks, wrapping, tampering."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from keys import (
    CorruptKeyRecordError,
    KeyNotFoundError,
    KeyRecord,
    KeyStore,
    KeyStoreError,
    NotInitialisedError,
    Purpose,
    WrongMasterKeyError,
    jws,
    sm2,
)
from keys.wrapping import KeyWrapper, record_context, wrap_algorithm_of
from tests.keys.conftest import (
    DEPARTMENT_USCC,
    OTHER_NAME,
    OTHER_USCC,
    PKI_BASE_URL,
    Store,
    create_key_tables,
    make_store,
)
from yiwang.database import make_engine, make_session_factory


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(KeyRecord)) or 0


def test_initialise_creates_the_service_keys_once(store: Store) -> None:
    with store.sessions.begin() as session:
        purposes = sorted((k.purpose, k.algorithm) for k in store.keystore.list_keys(session)
                          if k.owner is None)
        assert purposes == [
            ("idp-token", "ES256"), ("idp-token", "RS256"), ("issuing-ca", "EC-P256"),
            ("root-ca", "EC-P256"), ("tsa", "RSA-2048"),
        ]
        before = _count(session)
        assert store.keystore.initialise(session, now=store.now) == ()
        assert _count(session) == before


def test_initialise_with_a_fresh_keystore_object_creates_nothing(store: Store) -> None:
    again = KeyStore(store.master_key, pki_base_url=PKI_BASE_URL)
    with store.sessions.begin() as session:
        assert again.initialise(session, now=store.now + dt.timedelta(days=1)) == ()


def test_initialise_fills_only_what_is_missing(store: Store) -> None:
    with store.sessions.begin() as session:
        tsa = store.keystore.active_key(session, Purpose.TSA)
        session.execute(update(KeyRecord).where(KeyRecord.kid == tsa.kid).values(status="retired"))
        created = store.keystore.initialise(session, now=store.now)
        assert len(created) == 1
        assert store.keystore.active_key(session, Purpose.TSA).kid == created[0]


def test_wrong_master_key_is_refused_and_creates_nothing(store: Store) -> None:
    intruder = KeyStore(secrets.token_bytes(32), pki_base_url=PKI_BASE_URL)
    with store.sessions() as session:
        before = _count(session)
        with pytest.raises(WrongMasterKeyError):
            intruder.initialise(session, now=store.now)
        assert _count(session) == before
        with pytest.raises(WrongMasterKeyError):
            intruder.check_master_key(session)
        with pytest.raises(WrongMasterKeyError):
            intruder.active_key(session, Purpose.IDP_TOKEN, algorithm="ES256")


def test_uninitialised_store_says_so(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    create_key_tables(engine)
    keystore = KeyStore(secrets.token_bytes(32), pki_base_url=PKI_BASE_URL)
    with make_session_factory(engine)() as session:
        with pytest.raises(NotInitialisedError):
            keystore.check_master_key(session)
        with pytest.raises(NotInitialisedError):
            keystore.root_certificate(session)
        with pytest.raises(KeyNotFoundError):
            keystore.active_key(session, Purpose.IDP_TOKEN)
    engine.dispose()


def _secret_forms(key: object) -> list[bytes]:
    """Every byte string that would betray a private key if found at rest."""
    if isinstance(key, bytes):  # SM2 scalar
        return [key]
    assert isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
    forms = [
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
        key.private_bytes(serialization.Encoding.DER,
                          serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption()),
    ]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        forms.append(key.private_numbers().private_value.to_bytes(32, "big"))
    else:
        numbers = key.private_numbers()
        for value in (numbers.d, numbers.p, numbers.q):
            forms.append(value.to_bytes((value.bit_length() + 7) // 8, "big"))
    return forms


def test_no_private_key_is_stored_in_plaintext(store: Store) -> None:
    with store.sessions.begin() as session:
        store.keystore.create_department_keys(
            session, uscc=OTHER_USCC, name=OTHER_NAME, now=store.now)
    with store.sessions() as session:
        kids = [info.kid for info in store.keystore.list_keys(session)]
        secrets_at_risk = [
            form
            for kid in kids
            for form in _secret_forms(store.keystore.key(session, kid).private_key)
        ]
        public_parts = session.scalars(select(KeyRecord.public_der)).all()
    assert len(kids) == 11
    files = [p for p in store.directory.iterdir() if p.name.startswith("yiwang.db")]
    at_rest = b"".join(p.read_bytes() for p in files)
    assert all(public in at_rest for public in public_parts)  # the scan does see the rows
    assert b"PRIVATE KEY" not in at_rest
    assert store.master_key not in at_rest
    leaks = [form[:4].hex() for form in secrets_at_risk if form in at_rest]
    assert leaks == []


def test_wrapped_key_moved_to_another_record_is_refused(store: Store) -> None:
    with store.sessions.begin() as session:
        other = store.keystore.create_department_keys(
            session, uscc=OTHER_USCC, name=OTHER_NAME, now=store.now)
        first = session.get(KeyRecord, store.department.qr_kid)
        second = session.get(KeyRecord, other.qr_kid)
        assert first is not None and second is not None
        first.wrapped_private, second.wrapped_private = (
            second.wrapped_private, first.wrapped_private)
    fresh = KeyStore(store.master_key, pki_base_url=PKI_BASE_URL)  # nothing cached
    with store.sessions() as session:
        with pytest.raises(CorruptKeyRecordError, match=store.department.qr_kid):
            fresh.key(session, store.department.qr_kid)
        with pytest.raises(CorruptKeyRecordError, match=other.qr_kid):
            fresh.active_key(session, Purpose.DEPT_QR, OTHER_USCC)
        # The rest of the store is unharmed.
        fresh.check_master_key(session)
        fresh.active_key(session, Purpose.DEPT_SM2, DEPARTMENT_USCC)


def test_substituted_public_key_is_refused(store: Store) -> None:
    """A public key swapped in the database never becomes a verification key."""
    attacker = ec.generate_private_key(ec.SECP256R1())
    forged = attacker.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    with store.sessions.begin() as session:
        session.execute(update(KeyRecord).where(KeyRecord.kid == store.department.qr_kid)
                        .values(public_der=forged))
    fresh = KeyStore(store.master_key, pki_base_url=PKI_BASE_URL)
    with store.sessions() as session, pytest.raises(
        CorruptKeyRecordError, match=store.department.qr_kid
    ):
        fresh.verification_keys(session, Purpose.DEPT_QR, DEPARTMENT_USCC, now=store.now)


def test_key_wrapping_binds_the_record_context() -> None:
    wrapper = KeyWrapper(secrets.token_bytes(32))
    context = record_context("kid-one", "dept-qr", DEPARTMENT_USCC)
    blob = wrapper.wrap(b"private key bytes", context)
    assert wrapper.unwrap(blob, context) == b"private key bytes"
    for other in (record_context("kid-two", "dept-qr", DEPARTMENT_USCC),
                  record_context("kid-one", "idp-token", DEPARTMENT_USCC),
                  record_context("kid-one", "dept-qr", OTHER_USCC)):
        with pytest.raises(CorruptKeyRecordError):
            wrapper.unwrap(blob, other)
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(CorruptKeyRecordError):
        wrapper.unwrap(tampered, context)


def test_sm4_gcm_wrapping_round_trips() -> None:
    master = secrets.token_bytes(32)
    context = record_context("kid", "dept-sm2", None)
    blob = KeyWrapper(master, "sm4-gcm").wrap(b"\x01" * 32, context)
    assert wrap_algorithm_of(blob) == "sm4-gcm"
    assert blob[0] == 1 and len(blob) == 2 + 12 + 32 + 16
    # Blobs describe themselves: a wrapper configured for AES still reads SM4 blobs.
    assert KeyWrapper(master, "aes-256-gcm").unwrap(blob, context) == b"\x01" * 32
    with pytest.raises(CorruptKeyRecordError):
        KeyWrapper(secrets.token_bytes(32), "sm4-gcm").unwrap(blob, context)


def test_store_wrapped_with_sm4_gcm_works_end_to_end(tmp_path: Path) -> None:
    store = make_store(tmp_path, now=dt.datetime.now(dt.UTC), wrap_algorithm="sm4-gcm")
    with store.sessions() as session:
        blobs = session.scalars(select(KeyRecord.wrapped_private)).all()
        assert {wrap_algorithm_of(blob) for blob in blobs} == {"sm4-gcm"}
        reader = KeyStore(store.master_key, pki_base_url=PKI_BASE_URL)  # AES default, no cache
        key = reader.active_key(session, Purpose.DEPT_QR, DEPARTMENT_USCC)
        token = jws.sign({"sub": "x"}, key)
        keys = reader.verification_keys(session, Purpose.DEPT_QR, DEPARTMENT_USCC, now=store.now)
        assert jws.verify(token, keys, ["ES256"], require=()) == {"sub": "x"}
        kid, signature = reader.sm2_sign(session, DEPARTMENT_USCC, b"hello")
        assert sm2.verify(reader.sm2_public_key(session, kid), b"hello", signature)
    store.engine.dispose()


def test_unknown_wrap_algorithm_is_refused() -> None:
    with pytest.raises(KeyStoreError, match="unknown wrap algorithm"):
        KeyStore(secrets.token_bytes(32), wrap_algorithm="des", pki_base_url=PKI_BASE_URL)


def test_repeated_lookups_parse_nothing(pki: Store, pki_session: Session) -> None:
    first = pki.keystore.active_key(pki_session, Purpose.IDP_TOKEN, algorithm="RS256")
    again = pki.keystore.active_key(pki_session, Purpose.IDP_TOKEN, algorithm="RS256")
    assert first is again
    signer = pki.keystore.pdf_signer(pki_session, DEPARTMENT_USCC)
    assert pki.keystore.pdf_signer(pki_session, DEPARTMENT_USCC) is signer
    assert pki.keystore.timestamper(pki_session) is pki.keystore.timestamper(pki_session)


def test_signing_key_repr_shows_no_key_material(pki: Store, pki_session: Session) -> None:
    key = pki.keystore.active_key(pki_session, Purpose.DEPT_SM2, DEPARTMENT_USCC)
    assert isinstance(key.private_key, bytes)
    assert key.private_key.hex() not in repr(key)
    assert repr(key.private_key) not in repr(key)


def test_naive_times_are_refused(pki: Store, pki_session: Session) -> None:
    naive = dt.datetime(2030, 1, 1)
    with pytest.raises(KeyStoreError, match="timezone-aware"):
        pki.keystore.verification_keys(pki_session, Purpose.IDP_TOKEN, now=naive)
    with pytest.raises(KeyStoreError, match="timezone-aware"):
        pki.keystore.rotate(pki_session, Purpose.DEPT_QR, DEPARTMENT_USCC, now=naive,
                            publish_for=dt.timedelta(days=1))
    key = pki.keystore.active_key(pki_session, Purpose.IDP_TOKEN, algorithm="ES256")
    with pytest.raises(KeyStoreError, match="timezone-aware"):
        jws.verify(jws.sign({"sub": "x"}, key), {key.kid: key.public_key}, ["ES256"],
                   require=(), at=naive)


@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    """The SQL statements the store's engine runs inside the block."""
    seen: list[str] = []

    def record(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def test_department_materials_come_from_one_query(pki: Store, pki_session: Session) -> None:
    keystore = pki.keystore
    keystore.department_materials(pki_session, DEPARTMENT_USCC)  # parses and builds, once
    with _statements(pki) as seen:
        materials = keystore.department_materials(pki_session, DEPARTMENT_USCC)
    assert len(seen) == 1
    for key, purpose, owner in ((materials.signing, Purpose.DEPT_SIGNING, DEPARTMENT_USCC),
                                (materials.qr, Purpose.DEPT_QR, DEPARTMENT_USCC),
                                (materials.sm2, Purpose.DEPT_SM2, DEPARTMENT_USCC),
                                (materials.tsa, Purpose.TSA, None)):
        assert key is keystore.active_key(pki_session, purpose, owner)
    assert materials.signer is keystore.pdf_signer(pki_session, DEPARTMENT_USCC)
    assert materials.timestamper is keystore.timestamper(pki_session)
    assert (materials.signing.kid, materials.qr.kid, materials.sm2.kid) == (
        pki.department.signing_kid, pki.department.qr_kid, pki.department.sm2_kid)


def test_department_materials_name_what_is_missing(store: Store) -> None:
    with store.sessions.begin() as session:
        with pytest.raises(KeyNotFoundError, match=f"dept-signing key for owner {OTHER_USCC}"):
            store.keystore.department_materials(session, OTHER_USCC)
        session.execute(update(KeyRecord).where(KeyRecord.kid == store.department.sm2_kid)
                        .values(status="retired", retired_at=store.now))
        with pytest.raises(KeyNotFoundError, match="dept-sm2"):
            store.keystore.department_materials(session, DEPARTMENT_USCC)
        session.execute(update(KeyRecord).where(KeyRecord.purpose == Purpose.TSA)
                        .values(status="retired", retired_at=store.now))
        with pytest.raises(NotInitialisedError, match="tsa"):
            store.keystore.department_materials(session, DEPARTMENT_USCC)


def test_a_key_row_moved_to_another_department_is_refused(store: Store) -> None:
    """A row relabelled to another owner never passes as that owner's key, cached or not."""
    with store.sessions.begin() as session:
        other = store.keystore.create_department_keys(
            session, uscc=OTHER_USCC, name=OTHER_NAME, now=store.now)
        store.keystore.department_materials(session, OTHER_USCC)  # the key is now cached
        session.execute(update(KeyRecord).where(KeyRecord.kid == other.qr_kid)
                        .values(owner=DEPARTMENT_USCC, created_at=store.now + dt.timedelta(1)))
    fresh = KeyStore(store.master_key, pki_base_url=PKI_BASE_URL)  # nothing cached
    for keystore in (store.keystore, fresh):
        with store.sessions() as session, pytest.raises(CorruptKeyRecordError,
                                                        match=other.qr_kid):
            keystore.department_materials(session, DEPARTMENT_USCC)
