"""The identity provider's web endpoints, as three blueprints.

* ``idp`` — log-in pages (password, TOTP, whom to act for, consent, logout
  confirmation): HTML in Simplified Chinese, CSRF-checked, never cached.
* ``idp_frontchannel_api`` — ``/authorize`` and ``/logout``, which relying
  parties reach by cross-site GET *or POST* (OIDC Core §3.1.2.1,
  RP-Initiated Logout §2). The ``api`` suffix exempts them from the page
  CSRF check, which would refuse those legitimate cross-site POSTs; they
  change nothing on their own and render their own HTML for every error.
* ``idp_api`` — discovery, JWKS, userinfo, introspection, revocation:
  JSON, authenticated by client credentials or bearer tokens.

The token endpoint is a plain WSGI application wrapped around the app
(``idp.views.token``): its cost per request is a product target.
"""

from __future__ import annotations

from flask import Flask

from idp.provider import Provider

__all__ = ["init_app"]


def init_app(app: Flask) -> None:
    """Build the provider from the app's runtime and register the blueprints."""
    from idp.views import frontchannel, pages, protocol, token

    runtime = app.extensions["yiwang"]
    provider = app.extensions["idp"] = Provider(runtime.settings, runtime.keystore)
    app.wsgi_app = token.TokenEndpoint(  # type: ignore[method-assign]
        provider, runtime.session_factory, app.wsgi_app)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(frontchannel.blueprint)
    app.register_blueprint(protocol.blueprint)
