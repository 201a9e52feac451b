"""Run the app under gunicorn with threaded workers.

gthread workers held the most requests per second for a signing endpoint on
a 2-core machine (gevent stalls its loop on CPU-bound signatures).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from yiwang.logs import mask_id_numbers
from yiwang.settings import Settings


class AccessLog(Logger):  # type: ignore[misc]
    """gunicorn's logger with a lean access line: address, method, path, status, bytes, ms.

    The path is logged without its query (query strings may carry log-in
    hints) and with anything shaped like an ID number masked (gunicorn's
    access logger does not pass through the app's log filter). gunicorn's
    own access() builds a dict of every request and response header for
    each line, which cost a tenth of the CPU of a token request; this
    formats only what it logs.
    """

    def access(self, resp: Any, req: Any, environ: dict[str, Any],
               request_time: dt.timedelta) -> None:
        if not self.access_log_enabled:
            return
        status = str(resp.status).split(None, 1)[0]
        self.access_log.info('%s "%s %s" %s %s %dms', environ.get("REMOTE_ADDR", "-"),
                             environ.get("REQUEST_METHOD"),
                             mask_id_numbers(_path(environ)), status,
                             resp.sent, request_time // dt.timedelta(milliseconds=1))


def _path(environ: dict[str, Any]) -> str:
    # WSGI hands the path over as bytes decoded as Latin-1: decoded as UTF-8 again,
    # full-width digits are digits the mask recognises, not mojibake.
    raw = (environ.get("PATH_INFO") or "").encode("latin-1", "replace")
    return raw.decode("utf-8", "replace")


class _Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from yiwang.app import create_app

        return create_app(self.settings)


def serve(settings: Settings, *, bind: str, workers: int, threads: int) -> None:
    _Server(settings, {
        "bind": bind,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "accesslog": "-",
        "logger_class": AccessLog,
        "timeout": 60,
    }).run()
