"""``yiwang init``: instance folder, master key, migrations, base keys.

Running it again changes nothing. A database that already holds keys is
never given a new master key: a missing or different key file is an error,
because new keys over old ones would orphan every signature made so far.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import inspect, select

from keys import MasterKeyMissingError, create_master_key
from keys.models import KeyStoreMeta
from yiwang import migrate
from yiwang.database import utcnow
from yiwang.runtime import Runtime


@dataclasses.dataclass(frozen=True)
class InitReport:
    created_master_key: bool
    revision: str | None


def initialise(runtime: Runtime, *, now: dt.datetime | None = None) -> InitReport:
    settings = runtime.settings
    settings.instance.mkdir(parents=True, exist_ok=True, mode=0o700)
    if settings.blob_backend == "filesystem":
        settings.blob_dir.mkdir(exist_ok=True, mode=0o700)

    migrate.upgrade(runtime.engine)

    created = False
    if not settings.master_key_file.exists():
        if _holds_keys(runtime):
            raise MasterKeyMissingError(
                f"the database already holds keys, but the master key file "
                f"{settings.master_key_file} is missing; restore it instead of creating a new one"
            )
        settings.master_key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        create_master_key(settings.master_key_file)
        created = True

    with runtime.session() as session:
        runtime.keystore.initialise(session, now=now or utcnow())
    return InitReport(created_master_key=created, revision=migrate.current_revision(runtime.engine))


def _holds_keys(runtime: Runtime) -> bool:
    if not inspect(runtime.engine).has_table(KeyStoreMeta.__tablename__):
        return False
    with runtime.session() as session:
        return session.scalar(select(KeyStoreMeta.name).limit(1)) is not None
