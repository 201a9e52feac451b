"""Run the app under gunicorn with threaded workers.

gthread workers held the most requests per second for a signing endpoint on
a 2-core machine (gevent stalls its loop on CPU-bound signatures).
"""

from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication

from yiwang.settings import Settings


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
        # The path without its query: query strings may carry login hints.
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
        "timeout": 60,
    }).run()
