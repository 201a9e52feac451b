"""ID numbers stay out of every log line: messages, tracebacks, the access log, SQL errors."""

from __future__ import annotations

import datetime as dt
import io
import logging
from types import SimpleNamespace

import pytest
from gunicorn.config import Config
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from yiwang.database import make_engine
from yiwang.logs import MaskIdNumbers
from yiwang.server import AccessLog

NUMBER = "11010519491231002X"
MASKED = "110**************X"


def _logged(emit: object) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(MaskIdNumbers())
    logger = logging.getLogger("tests.masking")
    logger.addHandler(handler)
    try:
        emit(logger)  # type: ignore[operator]
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_messages_are_masked() -> None:
    output = _logged(lambda log: log.warning("log-in of %s failed", NUMBER))
    assert NUMBER not in output and MASKED in output


def test_tracebacks_are_masked() -> None:
    def fail(log: logging.Logger) -> None:
        try:
            raise ValueError(f"cannot store reason 'holder {NUMBER} moved'")
        except ValueError:
            log.exception("unhandled error")
        log.warning("here", stack_info=True, extra={"number": NUMBER})

    output = _logged(fail)
    assert "Traceback" in output and NUMBER not in output and MASKED in output


@pytest.mark.parametrize("typed", [NUMBER, "110105-19491231-002X", "110105 19491231 002x",
                                   "１１０１０５１９４９１２３１００２Ｘ"],
                         ids=["canonical", "dashes", "spaces", "full-width"])
def test_the_access_log_masks_the_path(typed: str) -> None:
    cfg = Config()
    cfg.set("accesslog", "-")
    access = AccessLog(cfg)
    stream = io.StringIO()
    access.access_log.handlers = [logging.StreamHandler(stream)]
    response = SimpleNamespace(status="404 NOT FOUND", sent=10)
    # WSGI: the path's UTF-8 bytes, decoded as Latin-1
    path = f"/api/v1/licenses/{typed}".encode().decode("latin-1")
    access.access(response, None, {"REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": "GET",
                                   "PATH_INFO": path}, dt.timedelta(milliseconds=3))
    logged = stream.getvalue()
    assert "19491231" not in logged and "１９４９" not in logged
    assert "**************" in logged


def test_database_errors_do_not_quote_parameters() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (reason TEXT UNIQUE)"))
        connection.execute(text("INSERT INTO t VALUES (:r)"), {"r": NUMBER})
        with pytest.raises(IntegrityError) as caught:
            connection.execute(text("INSERT INTO t VALUES (:r)"), {"r": NUMBER})
    assert NUMBER not in str(caught.value)
