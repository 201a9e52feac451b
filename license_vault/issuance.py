"""Issuing a license: validate, number, render, sign, seal, store once, record.

:func:`issue` is a unit of work of its own and commits, in three steps:

1. **validate** everything and load the keys, reading only (a bad request
   stores nothing and takes no number): one catalogue query (the type, and
   whether the department may issue it) and one key-store query (the
   department's signing, QR and SM2 keys and the TSA key);
2. **number**: take the next printed number from the (stem) counter with one
   ``UPDATE ... RETURNING`` and commit at once, so the counter row is locked
   for one statement, not for the signing. Should the issuance then be
   refused (the face does not fit the page) or fail, the number is given
   back unless a later one was taken meanwhile: only then a gap stays, as in
   paper registers;
3. **produce and record**: QR payload, render, PAdES B-T signature; then
   write the blob (encrypted, durable before anything names it), seal its
   SM3 with the department's SM2 key and insert the license, its validation
   material and its history in one transaction that starts with a write
   (plain inserts; the license's returns its id, no ORM flush).

Steps 1 and 2 share a transaction where that keeps every guarantee
(:func:`reads_stay_fresh`: PostgreSQL at READ COMMITTED, where each
statement reads the latest committed rows and the ``UPDATE`` waits for the
counter row, so reading first changes nothing and the number still commits
right after its statement). On SQLite the read ends first: a transaction
that has read cannot write once another connection has committed (its
snapshot is stale and it fails at once; the busy timeout does not apply).
Step 3 is always its own transaction: the number must not wait for the
signing, and the license must commit only after its blob is durable.

If recording the license is refused (a renewal that lost a race) or fails,
the transaction rolls back and the blob is discarded, so nothing stays. Only
a crash between writing the blob and the commit leaves a blob without a
license: ``yiwang vault fsck`` finds such blobs and deletes them once they
are older than a few minutes (so it never races an issuance in flight).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, make_transient_to_detached

from keys import sm2
from keys.errors import KeyStoreError
from license_vault import catalogue, identifiers
from license_vault.blobs import BlobInfo, BlobStore, open_blob_store
from license_vault.definitions import TypeSpec
from license_vault.errors import (
    BlobStoreError,
    Conflict,
    InvalidField,
    IssuanceError,
    NotAllowed,
)
from license_vault.holders import Holder, SealingBox, resolve_holder, seal_id
from license_vault.models import Department, License, LicenseEvent, ValidationItem
from license_vault.sql import give_back, next_in_sequence
from license_vault.validity import Period, china_date
from signing import (
    FaceRow,
    LicenseFace,
    RenderError,
    SigningError,
    build_payload,
    qr_url,
    render_license,
    sign_payload,
    sign_pdf,
)
from yiwang.database import insert_ignore

if TYPE_CHECKING:
    from keys import KeyStore
    from yiwang.settings import Settings

__all__ = ["SEAL_USER_ID", "IssueRequest", "Vault", "issue", "open_vault", "seal_message"]

log = logging.getLogger("license_vault")

VALID = "01"
SUPERSEDED = "99"  # "other": the status a renewed version takes
SIGNING_REASON = "签发电子证照"
SEAL_USER_ID = sm2.DEFAULT_USER_ID.decode("ascii")
SEQUENCE_DIGITS = 6
IDENTIFIER_ATTEMPTS = 3
CRL_REUSE = dt.timedelta(minutes=1)


class VaultKeyStore(SealingBox, Protocol):
    """What issuance needs of ``keys.KeyStore``: sealing holder IDs, and the keys."""

    def department_materials(self, session: Session, uscc: str) -> Any: ...
    def crl(self, session: Session, which: Any = "issuing", *, now: dt.datetime) -> bytes: ...
    def sm2_public_key(self, session: Session, kid: str) -> bytes: ...


@dataclasses.dataclass(frozen=True)
class Vault:
    """The process-wide things issuance uses beside the session.

    It also remembers, per process, recently signed CRLs (reused for
    ``CRL_REUSE``, as a CA publishing CRLs periodically would have them) and
    which validation items are already stored; both are only shortcuts.
    """

    keystore: VaultKeyStore
    blobs: BlobStore
    issuer: str  # public base URL: the QR code points at <issuer>/v/<token>
    crl_cache: dict[str, tuple[dt.datetime, bytes]] = dataclasses.field(
        default_factory=dict, repr=False, compare=False)
    stored_items: set[str] = dataclasses.field(default_factory=set, repr=False, compare=False)

    def current_crl(self, session: Session, which: str, now: dt.datetime) -> bytes:
        """A CRL of ``which`` CA signed at most ``CRL_REUSE`` before ``now``.

        Reusing a CRL for a minute cannot vouch for a revoked signer: revoking
        a department's or the TSA's certificate retires its key, so it no
        longer signs.
        """
        cached = self.crl_cache.get(which)
        if cached is not None and dt.timedelta(0) <= now - cached[0] <= CRL_REUSE:
            return cached[1]
        der = self.keystore.crl(session, which, now=now)
        self.crl_cache[which] = (now, der)
        return der


def open_vault(keystore: KeyStore, settings: Settings) -> Vault:
    """The vault the settings describe: its blob store and the public issuer URL."""
    blobs = open_blob_store(settings.blob_backend, settings.blob_dir, keystore)
    return Vault(keystore, blobs, settings.issuer)


@dataclasses.dataclass(frozen=True)
class IssueRequest:
    type_code: str
    holder_id: str
    fields: Mapping[str, object]
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


@dataclasses.dataclass(frozen=True)
class Materials:
    """The department's signing keys and the validation material, loaded once per issuance."""

    signer: Any
    timestamper: Any
    qr_key: Any
    sm2_key: Any
    certificates: tuple[bytes, ...]
    crls: tuple[bytes, ...]
    certificate_serial: str


@dataclasses.dataclass(frozen=True)
class Draft:
    """A validated license that does not exist yet."""

    spec: TypeSpec
    department: Department
    holder: Holder
    face: dict[str, str]
    issue_date: dt.date
    period: Period
    materials: Materials
    version: int = 1
    predecessor: License | None = None
    reason: str | None = None

    @property
    def holder_name(self) -> str:
        return self.face[self.spec.holder_name_field]


def seal_message(pdf_sm3: bytes, identifier: str) -> bytes:
    """What the seal record signs: the 32-byte SM3 of the PDF, then the identifier in ASCII."""
    return pdf_sm3 + identifier.encode("ascii")


# --- step 1: validate ---------------------------------------------------------------------


def prepare(session: Session, vault: Vault, *, department: Department, request: IssueRequest,
            now: dt.datetime) -> Draft:
    """Check a request completely; nothing is written. Raises the precise error."""
    spec, allowed = catalogue.type_for_issuer(session, request.type_code, department.id)
    if not allowed:
        raise NotAllowed(f"department {department.uscc} ({department.name}) may not issue "
                         f"{spec.name} ({spec.code})", field="type")
    holder = resolve_holder(vault.keystore, spec.holder_kind, request.holder_id,
                            type_name=spec.name)
    return make_draft(session, vault, spec, department, holder, request.fields,
                      valid_from=request.valid_from, valid_until=request.valid_until, now=now)


def make_draft(session: Session, vault: Vault, spec: TypeSpec, department: Department,
               holder: Holder, fields: Mapping[str, object], *, valid_from: dt.date | None,
               valid_until: dt.date | None, now: dt.datetime, version: int = 1,
               predecessor: License | None = None, reason: str | None = None) -> Draft:
    """Check the face data and the period, load the keys: the draft of a new or renewed license.

    Issuing on ``now`` (its date in China); ``valid_from`` defaults to the
    type's ``valid_from_field``, then to the issue date.
    """
    _check_printable(spec)
    issue_date = china_date(now)
    face = spec.check_face(fields, issue_date=issue_date)
    if holder.kind == "person":
        spec.check_against_holder(face, holder.canonical_id)
    period = spec.validity.period(
        issue_date=issue_date, valid_from=valid_from or spec.default_valid_from(face),
        valid_until=valid_until)
    return Draft(spec, department, holder, face, issue_date, period,
                 load_materials(session, vault, department.uscc, now),
                 version=version, predecessor=predecessor, reason=reason)


@functools.lru_cache(maxsize=256)
def _check_printable(spec: TypeSpec) -> None:
    # A type stored before its texts had to be printable is refused before it is
    # numbered. Specs are frozen, so one that passed passes again: remembered, since
    # walking every label and option costs a tenth of a millisecond per issuance.
    spec.check_printable()


def load_materials(session: Session, vault: Vault, uscc: str, now: dt.datetime) -> Materials:
    """The department's keys and the TSA's (one key-store query) and the current CRLs."""
    try:
        keys = vault.keystore.department_materials(session, uscc)
        signer = keys.signer
        # The signer carries the chain it embeds (issuing CA, root), in that order.
        chain = [signer.signing_cert, *signer.cert_registry, keys.timestamper.tsa_cert]
        return Materials(
            signer=signer, timestamper=keys.timestamper, qr_key=keys.qr, sm2_key=keys.sm2,
            certificates=tuple(dict.fromkeys(certificate.dump() for certificate in chain)),
            crls=(vault.current_crl(session, "issuing", now),
                  vault.current_crl(session, "root", now)),
            certificate_serial=format(signer.signing_cert.serial_number, "x"),
        )
    except KeyStoreError as exc:
        raise IssuanceError(f"the keys of department {uscc} are not usable: {exc}") from exc


# --- step 2: number -------------------------------------------------------------------------


def number_stem(spec: TypeSpec, department_uscc: str, issue_date: dt.date) -> str:
    """Printed number without its sequence: prefix, region of the department, year, type."""
    return f"{spec.number_prefix}{department_uscc[2:8]}{issue_date.year:04d}{spec.code[-3:]}"


def reads_stay_fresh(session: Session) -> bool:
    """Whether the number may be taken in the validation's own transaction.

    Only on PostgreSQL at READ COMMITTED (see the module docstring): on
    SQLite, and at a stricter isolation level, a snapshot taken by the reads
    would fail the ``UPDATE`` once another issuance committed in between.
    """
    dialect = session.get_bind().dialect
    return dialect.name == "postgresql" and dialect.default_isolation_level == "READ COMMITTED"


def allocate_number(session: Session, stem: str) -> str:
    """The next printed number of ``stem``; commits at once (see the module docstring)."""
    value = next_in_sequence(session, stem)
    session.commit()
    return f"{stem}{value:0{SEQUENCE_DIGITS}d}"


def return_number(session: Session, stem: str, number: str) -> None:
    """Give back the number of an issuance refused or failed after numbering.

    Best effort, after the error that brought us here: should the database
    fail again, that is logged and the number stays a gap.
    """
    try:
        session.rollback()
        give_back(session, stem, int(number[len(stem):]), number)
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        log.warning("printed number %s could not be given back: %s", number, exc)


# --- step 3: produce and record ---------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Produced:
    identifier: str
    license_number: str
    qr_url: str
    qr_kid: str
    face_digest: bytes
    pdf: bytes


def produce(draft: Draft, *, issuer: str, identifier: str, number: str,
            now: dt.datetime) -> Produced:
    """QR payload, rendered face and PAdES signature (no database)."""
    materials = draft.materials
    try:
        payload = build_payload(
            identifier=identifier, holder_name=draft.holder_name,
            holder_is_entity=draft.holder.kind == "entity",
            holder_id_masked=draft.holder.qr_masked, valid_from=draft.period.valid_from,
            valid_until=draft.period.valid_until, issued_at=now, face_fields=draft.face)
        url = qr_url(issuer, sign_payload(payload, materials.qr_key))
        pdf = render_license(license_face(draft, identifier, number, url))
        signed = sign_pdf(pdf, signer=materials.signer, timestamper=materials.timestamper,
                          reason=SIGNING_REASON, location=draft.department.name)
    except RenderError as exc:
        raise InvalidField(f"the fields cannot be printed on the license face: {exc}",
                           field="fields") from exc
    except SigningError as exc:
        raise IssuanceError(f"signing the license failed: {exc}") from exc
    return Produced(identifier, number, url, materials.qr_key.kid, payload.face_digest,
                    signed.data)


def seal(draft: Draft, identifier: str, blob: BlobInfo) -> tuple[str, bytes]:
    """The seal record: the department's SM2 signature over SM3(pdf) || identifier."""
    key = draft.materials.sm2_key
    try:
        message = seal_message(bytes.fromhex(blob.sm3), identifier)
        return key.kid, sm2.sign(key.private_key, key.public_key, message)
    except KeyStoreError as exc:
        raise IssuanceError(f"the SM2 seal failed: {exc}") from exc


def license_face(draft: Draft, identifier: str, number: str, url: str) -> LicenseFace:
    """What the page shows: holder and ID first, then the face fields in the type's order."""
    spec = draft.spec
    holder_field = spec.field(spec.holder_name_field)
    rows = [FaceRow(spec.holder_id_label, draft.holder.canonical_id, "text")]
    rows += [FaceRow(field.label, draft.face[field.key], field.type)  # type: ignore[arg-type]
             for field in spec.fields
             if field.key != spec.holder_name_field and field.key in draft.face]
    return LicenseFace(
        title=spec.name, license_number=number, holder_name=draft.holder_name,
        holder_label=holder_field.label, rows=rows,
        issuing_department=draft.department.name, issue_date=draft.issue_date,
        valid_from=draft.period.valid_from, valid_until=draft.period.valid_until,
        identifier=identifier, qr_url=url, validity_label=spec.validity_label)


def record(session: Session, vault: Vault, draft: Draft, produced: Produced, blob: BlobInfo,
           *, actor: str, now: dt.datetime) -> License:
    """Insert the license, its validation material and its history (not committed)."""
    holder = draft.holder
    seal_kid, seal_signature = seal(draft, produced.identifier, blob)
    items = [("certificate", der) for der in draft.materials.certificates]
    items += [("crl", der) for der in draft.materials.crls]
    digests = [hashlib.sha256(der).hexdigest() for _, der in items]
    row = dict(
        identifier=produced.identifier, serial=_serial(produced.identifier),
        version=draft.version, type_code=draft.spec.code, department_id=draft.department.id,
        predecessor_id=draft.predecessor.id if draft.predecessor is not None else None,
        license_number=produced.license_number, holder_kind=holder.kind,
        holder_key=holder.key, holder_id_sealed=seal_id(vault.keystore, holder),
        holder_id_masked=holder.masked, holder_name=draft.holder_name, face=draft.face,
        face_digest=produced.face_digest.hex(), issue_date=draft.issue_date,
        valid_from=draft.period.valid_from, valid_until=draft.period.valid_until,
        issued_at=now, status=VALID, status_reason=None, status_changed_at=now,
        pdf_sha256=blob.sha256, pdf_sm3=blob.sm3, pdf_size=blob.size,
        signing_certificate_serial=draft.materials.certificate_serial,
        qr_kid=produced.qr_kid, qr_url=produced.qr_url, seal_kid=seal_kid,
        seal_signature=seal_signature, validation_items=list(dict.fromkeys(digests)),
    )
    # Core statements with their parameters, not the ORM (no unit-of-work flush, no
    # per-call statement built around 30 values); the License is then handed to the
    # session as if loaded, so callers get an ordinary persistent object.
    connection = session.connection()
    license = License(id=connection.execute(_INSERT_LICENSE, row).scalar_one(), **row)
    make_transient_to_detached(license)
    session.add(license)
    insert_ignore(session, ValidationItem, [
        {"sha256": digest, "kind": kind, "der": der}
        for digest, (kind, der) in zip(digests, items, strict=True)
        if digest not in vault.stored_items], key="sha256")
    events = [{"license_id": license.id, "at": now, "action": "issued", "from_status": None,
               "to_status": VALID, "actor": actor, "reason": draft.reason}]
    if draft.predecessor is not None:
        events.append(_supersede(session, draft.predecessor, license, actor=actor, now=now))
    connection.execute(_INSERT_EVENT, events)
    return license


_INSERT_LICENSE = insert(License).returning(License.id)
_INSERT_EVENT = insert(LicenseEvent)


def _supersede(session: Session, old: License, new: License, *, actor: str,
               now: dt.datetime) -> dict[str, Any]:
    """The renewed version becomes 99 (other), superseded, unless it changed meanwhile.

    Returns the history row to insert for it.
    """
    reason = f"superseded by version {new.version}: {new.identifier}"
    changed = session.execute(
        update(License).where(License.id == old.id, License.status == old.status)
        .values(status=SUPERSEDED, status_reason=reason, status_changed_at=now)
        .execution_options(synchronize_session=False))
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"license {old.identifier} changed status while it was being renewed")
    return {"license_id": old.id, "at": now, "action": "superseded", "from_status": old.status,
            "to_status": SUPERSEDED, "actor": actor, "reason": reason}


def _serial(identifier: str) -> str:
    # Our own canonical identifier (...<serial>.<version>.<check>): no need to re-validate.
    return identifier.rsplit(".", 3)[1]


class IdentifierTaken(Exception):
    """The random serial collided with an existing identifier (retry with another)."""


def commit_license(session: Session, vault: Vault, draft: Draft, produced: Produced, *,
                   actor: str, now: dt.datetime) -> License:
    """Store the blob, record the license and commit.

    On any refusal or failure the transaction rolls back and the blob is
    discarded: a request that is not answered with the license stores nothing.
    """
    blob: BlobInfo | None = None
    try:
        # Durable before the license names it (filesystem), or in this transaction (database).
        blob = vault.blobs.put(session, produced.pdf, now=now)
        license = record(session, vault, draft, produced, blob, actor=actor, now=now)
        session.commit()
    except IntegrityError as exc:
        _abandon(session, vault, blob)
        if identifiers.parse(produced.identifier).version == 1 \
                and "identifier" in str(exc.orig).lower():
            raise IdentifierTaken(produced.identifier) from exc
        raise Conflict("the license changed while this request was processed "
                       "(renewed or numbered concurrently); reload it and retry") from exc
    except BaseException:
        _abandon(session, vault, blob)
        raise
    vault.stored_items.update(license.validation_items)
    return license


def _abandon(session: Session, vault: Vault, blob: BlobInfo | None) -> None:
    """Roll back, and discard the blob written for the license that will not be."""
    session.rollback()
    if blob is not None:
        discard_blob(session, vault.blobs, blob.sha256)


def discard_blob(session: Session, blobs: BlobStore, sha256: str) -> None:
    """Remove a blob whose license did not commit, unless a license names it after all.

    Each PDF is unique (its identifier, signing time and signature), so no
    other license shares its bytes; the look-up guards against the
    improbable. Should it fail, the blob is logged and left to ``vault
    fsck`` rather than hide the error that brought us here.
    """
    try:
        named = session.scalar(select(License.id).where(License.pdf_sha256 == sha256))
        session.rollback()  # ends the read
        if named is None:
            blobs.discard(session, sha256)
    except (SQLAlchemyError, BlobStoreError) as exc:
        session.rollback()
        log.warning("blob %s of a license that did not commit is left to vault fsck: %s",
                    sha256, exc)


def issue(session: Session, vault: Vault, *, department: Department, request: IssueRequest,
          actor: str, now: dt.datetime) -> License:
    """Issue a new license (version 1) and commit; see the module docstring for the steps.

    ``actor`` says who asked (``client:<client_id>``, ``operator``) for the history.
    """
    draft = prepare(session, vault, department=department, request=request, now=now)
    if not reads_stay_fresh(session):
        session.commit()  # ends the read; nothing was written
    stem = number_stem(draft.spec, department.uscc, draft.issue_date)
    number = allocate_number(session, stem)
    try:
        for _ in range(IDENTIFIER_ATTEMPTS):
            identifier = identifiers.generate(draft.spec.code, department.uscc, 1)
            produced = produce(draft, issuer=vault.issuer, identifier=identifier,
                               number=number, now=now)
            try:
                return commit_license(session, vault, draft, produced, actor=actor, now=now)
            except IdentifierTaken:
                continue
        raise IssuanceError("could not find a free license identifier; try again")
    except Exception:
        return_number(session, stem, number)
        raise
