import re

from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import issuer_client, with_settings
from yiwang.runtime import Runtime
from yiwang.settings import Settings


def test_health_is_ok_with_the_database_reachable(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_health_is_503_when_the_database_is_unreachable(settings: Settings, tmp_path) -> None:
    from yiwang.app import create_app

    broken = with_settings(settings, database_url=f"sqlite:///{tmp_path}/missing/dir/db.sqlite")
    app = create_app(broken)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_pages_carry_security_headers(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "页面不存在" in response.get_data(as_text=True)


def test_api_errors_are_json_without_internals(client: FlaskClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json["error"] == "not_found"
    assert "error_description" in response.json


def test_a_method_no_route_takes_is_405_json_on_protocol_endpoints(client: FlaskClient) -> None:
    # Not the CSRF check's "form expired" page: no route answers this method at all.
    for method, path in (("PUT", "/userinfo"), ("PUT", "/introspect"),
                         ("POST", "/.well-known/openid-configuration"), ("DELETE", "/authorize"),
                         ("PUT", "/api/v1/verify")):
        response = client.open(path, method=method)
        assert response.status_code == 405, (method, path)
        assert response.json is not None and response.json["error"] == "method_not_allowed"


def test_a_method_no_page_takes_is_a_405_page(client: FlaskClient) -> None:
    response = client.put("/verify")
    assert response.status_code == 405
    assert "请求方式不被允许" in response.get_data(as_text=True)


def test_unexpected_error_is_a_generic_server_error(app: Flask) -> None:
    @app.get("/api/v1/boom")
    def boom() -> str:
        raise RuntimeError("secret internals /etc/passwd")

    response = app.test_client().get("/api/v1/boom")
    assert response.status_code == 500
    assert response.json == {"error": "server_error",
                              "error_description": "The server could not complete the request."}
    assert b"passwd" not in response.data


def test_form_post_without_csrf_token_is_refused(app: Flask) -> None:
    @app.route("/form", methods=["GET", "POST"])
    def form() -> str:
        from flask import render_template_string

        return render_template_string('<form method="post"><input name="csrf_token" '
                                      'value="{{ csrf_token() }}"></form>')

    client = issuer_client(app)
    assert client.post("/form", data={"x": "1"}).status_code == 400
    page = client.get("/form").get_data(as_text=True)
    token = re.search(r'value="([0-9a-f]{64})"', page).group(1)
    assert client.post("/form", data={"csrf_token": token}).status_code == 200
    assert client.post("/form", data={"csrf_token": "0" * 64}).status_code == 400


def test_oversized_body_is_refused_before_reading(app: Flask) -> None:
    @app.post("/api/v1/upload")
    def upload() -> str:
        from flask import request

        return str(len(request.get_data()))

    limit = app.config["MAX_CONTENT_LENGTH"]
    response = app.test_client().post("/api/v1/upload", data=b"x" * (limit + 1),
                                      content_type="application/octet-stream")
    assert response.status_code == 413
    assert response.json["error"] == "request_entity_too_large"


def test_runtime_is_built_lazily(settings: Settings) -> None:
    runtime = Runtime(settings)
    assert "engine" not in runtime.__dict__ and "keystore" not in runtime.__dict__
