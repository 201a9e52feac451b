"""The process-wide objects one instance needs: engine, sessions, key store.

Shared by the web app (``app.extensions["yiwang"]``) and the CLI
(``click`` context object), so both see the same wiring. Everything is built
lazily: constructing a Runtime touches neither the database nor the disk.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from keys import KeyStore, load_master_key
from yiwang.database import make_engine, make_session_factory
from yiwang.settings import Settings


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @functools.cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @functools.cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @functools.cached_property
    def keystore(self) -> KeyStore:
        return KeyStore(
            load_master_key(self.settings.master_key_file),
            wrap_algorithm=self.settings.key_wrap,
            pki_base_url=self.settings.issuer + "/pki",
        )

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back otherwise."""
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()
