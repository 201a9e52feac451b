"""``yiwang vault fsck``: blobs and license records agree, or are made to.

Issuance writes the blob before it commits the license, so a crash (or a
failed commit) between the two leaves a blob no license names. fsck lists
the blobs no license references and deletes those older than ``grace`` —
younger ones may belong to an issuance in flight — together with unfinished
temporary files. It reports, and never repairs, licenses whose blob is
missing or whose bytes no longer match their SHA-256.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from license_vault.blobs import BlobEntry, BlobStore
from license_vault.errors import BlobStoreError
from license_vault.models import License
from yiwang.database import begin_write

__all__ = ["DEFAULT_GRACE", "FsckReport", "fsck"]

DEFAULT_GRACE = dt.timedelta(minutes=10)


@dataclasses.dataclass
class FsckReport:
    checked_licenses: int = 0
    checked_blobs: int = 0
    orphans_deleted: list[str] = dataclasses.field(default_factory=list)
    orphans_kept: list[str] = dataclasses.field(default_factory=list)  # younger than grace
    temporary_deleted: list[str] = dataclasses.field(default_factory=list)
    missing: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (identifier, sha)
    damaged: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def consistent(self) -> bool:
        """Every license has its bytes, undamaged (stray blobs do not count: fsck deletes them)."""
        return not (self.missing or self.damaged)

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["missing"] = [{"identifier": i, "sha256": s} for i, s in self.missing]
        data["damaged"] = [{"identifier": i, "sha256": s} for i, s in self.damaged]
        data["consistent"] = self.consistent
        return data


def fsck(session: Session, blobs: BlobStore, *, now: dt.datetime,
         grace: dt.timedelta = DEFAULT_GRACE, repair: bool = True,
         verify_contents: bool = True) -> FsckReport:
    """Check the store against the records; with ``repair``, delete old strays (flushed).

    The checks only read. Deleting comes last, in a transaction that takes
    the write lock first (``yiwang.database.begin_write``; with the database
    backend deleting is writing), which commits what the session has
    pending: on SQLite a read snapshot cannot become a write once another
    connection has committed, as the running service does all the time.
    """
    report = FsckReport()
    cutoff = now - grace
    referenced = set(session.scalars(select(License.pdf_sha256)))
    old_orphans: list[BlobEntry] = []
    old_temporary: list[BlobEntry] = []
    for entry in list(blobs.entries(session)):
        if entry.temporary is not None:
            if entry.stored_at <= cutoff:
                old_temporary.append(entry)
            continue
        report.checked_blobs += 1
        if entry.sha256 in referenced:
            continue
        if entry.stored_at > cutoff:
            report.orphans_kept.append(entry.sha256)
        else:
            old_orphans.append(entry)
    _check_licenses(session, blobs, report, verify_contents=verify_contents)
    if repair and (old_orphans or old_temporary):
        begin_write(session)
    for entry in old_temporary:
        if not repair or blobs.delete(session, entry):
            report.temporary_deleted.append(entry.sha256)
    for entry in old_orphans:
        if _now_referenced(session, entry) or (repair and not blobs.delete(session, entry)):
            report.orphans_kept.append(entry.sha256)
        else:
            report.orphans_deleted.append(entry.sha256)
    session.flush()
    return report


def _check_licenses(session: Session, blobs: BlobStore, report: FsckReport, *,
                    verify_contents: bool) -> None:
    """Each license's blob is there and, with ``verify_contents``, opens to its digest."""
    for identifier, sha256 in session.execute(
            select(License.identifier, License.pdf_sha256).order_by(License.id)).all():
        report.checked_licenses += 1
        if verify_contents:
            try:
                blobs.get(session, sha256)
            except BlobStoreError as exc:
                target = report.missing if "missing" in str(exc) else report.damaged
                target.append((identifier, sha256))
        elif not blobs.exists(session, sha256):
            report.missing.append((identifier, sha256))


def _now_referenced(session: Session, entry: BlobEntry) -> bool:
    # A license may have been committed since the referenced set was read.
    return session.scalar(select(License.id).where(License.pdf_sha256 == entry.sha256)) \
        is not None
