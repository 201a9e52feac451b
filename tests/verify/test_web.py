"""The verifier pages and the JSON API, through the real app."""

from __future__ import annotations

import io
import re

import pytest
from flask.testing import FlaskClient

from license_vault import lifecycle, reading
from tests.license_vault.helpers import World, rasterise
from tests.verify import forgeries
from tests.verify.conftest import Issued, issue
from yiwang.database import utcnow

FIFTY_MB = 50 * 1024 * 1024


class CountingStream(io.RawIOBase):
    """A request body of ``size`` bytes that records how much of it was read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # the test client measures the body by seeking; seeking reads nothing
        self.position = offset if whence == io.SEEK_SET else self.size + offset
        return self.position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = max(0, min(len(buffer), self.size - self.position))
        buffer[:count] = b"\0" * count
        self.position += count
        self.read_bytes += count
        return count


@pytest.fixture
def client(verify_world: World) -> FlaskClient:
    return verify_world.client()


def path_of(url: str) -> str:
    return url.removeprefix("https://yiwang.test")


def csrf_token(client: FlaskClient) -> str:
    page = client.get("/verify").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def reason_of(html: str) -> str:
    match = re.search(r'data-reason="(\w+)"', html)
    assert match is not None
    return match.group(1)


# -- /v/<token>: what the phone camera opens ------------------------------------------------------


def test_scanned_genuine_code_shows_a_green_verdict_and_the_vaults_face_data(
        client: FlaskClient, genuine: Issued) -> None:
    response = client.get(path_of(genuine.qr_url))
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'class="verdict ok"' in html and ">有效<" in html
    assert reason_of(html) == "VALID"
    assert genuine.license.face["operator"] in html
    holder = genuine.license.holder_id_masked
    assert holder not in html or "*" in holder  # the full USCC is never shown
    assert holder[:8] + "*" * (len(holder) - 8) in html
    assert "<script" not in html and "style=" not in html


def test_scanned_revoked_code_shows_a_red_verdict_with_the_reason(
        verify_world: World, client: FlaskClient) -> None:
    issued = issue(verify_world)
    with verify_world.session() as session:
        license = reading.find_license(session, issued.identifier)
        assert license is not None
        lifecycle.set_status(session, license, "07", reason="以欺骗手段取得许可",
                             actor="operator", now=utcnow())

    html = client.get(path_of(issued.qr_url)).get_data(as_text=True)

    assert 'class="verdict bad"' in html and ">已吊销<" in html
    assert "证照已被吊销" in html
    assert reason_of(html) == "REVOKED"


@pytest.mark.parametrize("token", ["AAAA", "x" * 3000, "0oRD", "%00", "..%2F..%2Fetc",
                                   "<script>alert(1)</script>"])
def test_garbage_token_page_is_red_and_shows_no_face_data(client: FlaskClient,
                                                          token: str) -> None:
    response = client.get(f"/v/{token}")
    html = response.get_data(as_text=True)
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        assert 'class="verdict bad"' in html
        assert 'id="face"' not in html
        assert "<script>alert" not in html


def test_edited_code_shows_no_face_data(client: FlaskClient, genuine: Issued) -> None:
    forged = forgeries.edit_payload(genuine.qr_url, 5, 20991231)
    html = client.get(path_of(forged)).get_data(as_text=True)
    assert reason_of(html) == "QR_SIGNATURE_INVALID"
    assert 'id="face"' not in html
    assert genuine.license.face["operator"] not in html


# -- /verify: uploads -----------------------------------------------------------------------------


def test_upload_form_is_a_chinese_page_with_csrf(client: FlaskClient) -> None:
    html = client.get("/verify").get_data(as_text=True)
    assert "电子证照核验" in html and 'name="csrf_token"' in html
    assert 'enctype="multipart/form-data"' in html


def test_uploaded_pdf_gets_the_result_page(client: FlaskClient, genuine: Issued) -> None:
    response = client.post("/verify", data={
        "csrf_token": csrf_token(client), "file": (io.BytesIO(genuine.pdf), "license.pdf")},
        content_type="multipart/form-data")
    assert response.status_code == 200
    assert reason_of(response.get_data(as_text=True)) == "VALID"


def test_uploaded_painted_over_pdf_shows_the_vault_record_not_the_file(
        client: FlaskClient, genuine: Issued) -> None:
    forged = forgeries.paint_over(genuine.pdf)
    html = client.post("/verify", data={
        "csrf_token": csrf_token(client), "file": (io.BytesIO(forged), "license.pdf")},
        content_type="multipart/form-data").get_data(as_text=True)
    assert reason_of(html) == "MODIFIED_AFTER_SIGNING"
    assert 'class="verdict bad"' in html and "签发之后被修改" in html
    assert "证照库中的记录" in html and genuine.license.face["operator"] in html
    assert "FORGED" not in html


def test_uploaded_screenshot_and_pasted_text(client: FlaskClient, genuine: Issued,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    png = rasterise(genuine.pdf, tmp_path_factory.mktemp("upload")).read_bytes()
    token = csrf_token(client)
    by_image = client.post("/verify", data={"csrf_token": token,
                                            "file": (io.BytesIO(png), "screenshot.png")},
                           content_type="multipart/form-data")
    by_text = client.post("/verify", data={"csrf_token": token, "text": genuine.qr_url})
    for response in (by_image, by_text):
        assert response.status_code == 200, text_of(response.get_data(as_text=True))
        assert reason_of(response.get_data(as_text=True)) == "VALID"


def test_upload_without_csrf_token_is_refused(client: FlaskClient, genuine: Issued) -> None:
    response = client.post("/verify", data={"text": genuine.qr_url})
    assert response.status_code == 400


def test_empty_upload_asks_again(client: FlaskClient) -> None:
    response = client.post("/verify", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 400
    assert "请选择文件" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/verify", "/api/v1/verify"])
def test_fifty_megabyte_upload_is_refused_before_it_is_read(client: FlaskClient,
                                                            path: str) -> None:
    body = CountingStream(FIFTY_MB)
    response = client.post(path, input_stream=body, content_length=FIFTY_MB,
                           content_type="multipart/form-data; boundary=x")
    assert response.status_code == 413
    assert body.read_bytes == 0


@pytest.mark.parametrize("content_type", ["application/pdf", "application/json"])
def test_chunked_body_beyond_the_limit_is_refused_not_cut(client: FlaskClient,
                                                          content_type: str) -> None:
    # No Content-Length: Werkzeug would hand over the first 20 MB to be judged.
    limit = client.application.config["MAX_CONTENT_LENGTH"]
    response = client.post("/api/v1/verify", input_stream=io.BytesIO(b"%PDF-" + bytes(limit)),
                           content_type=content_type,
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert response.json is not None


# -- /api/v1/verify -------------------------------------------------------------------------------


def test_api_verifies_qr_text(client: FlaskClient, genuine: Issued) -> None:
    response = client.post("/api/v1/verify", json={"text": genuine.qr_url})
    body = response.json
    assert response.status_code == 200 and body is not None
    assert body["valid"] is True and body["bottom_line"] == "VALID" and body["kind"] == "qr"
    assert body["facets"]["signature"]["outcome"] == "passed"
    assert body["license"]["identifier"] == genuine.identifier
    assert response.headers["Cache-Control"] == "no-store"


def test_api_verifies_a_pdf_body_and_a_multipart_file(client: FlaskClient,
                                                      genuine: Issued) -> None:
    raw = client.post("/api/v1/verify", data=genuine.pdf, content_type="application/pdf")
    form = client.post("/api/v1/verify", data={"file": (io.BytesIO(genuine.pdf), "a.pdf")},
                       content_type="multipart/form-data")
    for response in (raw, form):
        assert response.json is not None and response.json["bottom_line"] == "VALID"
        assert response.json["signed_revision_sha256"] == genuine.license.pdf_sha256


def test_api_answers_forgeries_with_their_reason(client: FlaskClient, genuine: Issued) -> None:
    forged = forgeries.append_page(genuine.pdf)
    response = client.post("/api/v1/verify", data=forged, content_type="application/pdf")
    assert response.status_code == 200 and response.json is not None
    assert response.json["valid"] is False
    assert response.json["bottom_line"] == "MODIFIED_AFTER_SIGNING"


def test_api_verifies_at_a_given_time(client: FlaskClient, genuine: Issued) -> None:
    response = client.post("/api/v1/verify",
                           json={"text": genuine.qr_url, "at": "2099-01-01T00:00:00+08:00"})
    assert response.json is not None and response.json["bottom_line"] == "EXPIRED"


@pytest.mark.parametrize(("kwargs", "status"), [
    ({"json": {"qr": "x"}}, 400), ({"json": ["x"]}, 400),
    ({"json": {"text": "x", "at": "yesterday"}}, 400),
    ({"json": {"text": "x", "at": "2030-01-01T00:00:00"}}, 400),
    ({"json": {"text": "x", "at": "0001-01-01T00:00:00+14:00"}}, 400),
    ({"json": {"text": "x", "at": "9999-12-31T23:59:59+00:00"}}, 400),
    ({"data": "x", "content_type": "text/plain"}, 415),
    ({"data": {}, "content_type": "multipart/form-data"}, 400),
])
def test_api_refuses_malformed_requests(client: FlaskClient, kwargs: dict[str, object],
                                        status: int) -> None:
    response = client.post("/api/v1/verify", **kwargs)  # type: ignore[arg-type]
    assert response.status_code == status
    assert response.json is not None and response.json["error"] == "invalid_request"
