"""The application factory: nothing happens at import time."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, jsonify
from sqlalchemy import text

from idp import views as idp_views
from license_vault import views as license_vault_views
from verify import views as verify_views
from yiwang import pki, web
from yiwang.database import close_session, current_session
from yiwang.logs import configure_logging
from yiwang.runtime import Runtime
from yiwang.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """A new app for these settings (default: read from the environment)."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    runtime = Runtime(settings)
    https = settings.issuer.startswith("https://")

    app = Flask(__name__, static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        # Forms carry file uploads only on /verify; bound the rest tightly. Werkzeug
        # 3.1 checks this against each 64 KiB chunk it reads plus what it holds back,
        # file parts included, so it must exceed 64 KiB or uploads above it fail.
        MAX_FORM_MEMORY_SIZE=128 * 1024,
        MAX_FORM_PARTS=200,
        PREFERRED_URL_SCHEME="https" if https else "http",
    )
    # Chinese names and messages as themselves in JSON, not \u escapes.
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["yiwang"] = runtime
    app.teardown_appcontext(close_session)

    web.install(app, csrf_secret=runtime.keystore.derive_secret("csrf"),
                secure_cookies=https)
    app.register_blueprint(_core_blueprint())
    app.register_blueprint(pki.blueprint)
    idp_views.init_app(app)
    license_vault_views.init_app(app)
    verify_views.init_app(app)
    return app


def _core_blueprint() -> Blueprint:
    core = Blueprint("yiwang", __name__, static_folder="static",
                     static_url_path="/static/yiwang", template_folder="templates")

    @core.get("/healthz")
    def healthz() -> tuple[Response, int]:
        try:
            current_session().execute(text("SELECT 1"))
        except Exception:  # any failure means "not ready"; the reason goes to the log
            log.warning("health check: database unreachable", exc_info=True)
            return jsonify(status="unavailable", database="unreachable"), 503
        return jsonify(status="ok", database="ok"), 200

    return core
