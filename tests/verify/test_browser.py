"""The verifier page in a real headless browser (Debian chromium, driven by Playwright).

The app is served on loopback by werkzeug in a thread, with its issuer set
to that address, so the licenses issued here carry QR codes pointing at it,
as a phone camera would open them. Screenshots go to the test's folder, and
to ``$YIWANG_SCREENSHOTS`` (the docs folder) when that is set.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from license_vault import lifecycle, reading
from tests.helpers import instance_copy
from tests.license_vault.helpers import World, build_world
from tests.verify import forgeries
from tests.verify.conftest import Issued, issue
from yiwang.database import utcnow
from yiwang.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
GREEN = "rgb(26, 127, 55)"  # --ok in yiwang.css
RED = "rgb(207, 34, 46)"  # --bad
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium")


@dataclasses.dataclass(frozen=True)
class Live:
    world: World
    base_url: str

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def live(template_instance: Settings, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[Live]:
    apps: dict[str, Any] = {}

    def dispatch(environ: dict[str, Any], start_response: Any) -> Any:
        return apps["app"](environ, start_response)

    # Bound first, so the issuer (and every QR code issued here) names the real port.
    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    folder = tmp_path_factory.mktemp("live") / "instance"
    with instance_copy(template_instance, folder, issuer=base_url) as settings:
        world = build_world(settings)
        apps["app"] = world.app
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Live(world, base_url)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            world.close()


@dataclasses.dataclass(frozen=True)
class Licenses:
    valid: Issued
    revoked: Issued
    other: Issued


@pytest.fixture(scope="module")
def licenses(live: Live) -> Licenses:
    """Issued before the browser starts: Playwright's sync API runs an event loop in this
    thread, and pyHanko (issuance) refuses to run inside one."""
    valid, revoked, other = (issue(live.world) for _ in range(3))
    _revoke(live.world, revoked)
    return Licenses(valid, revoked, other)


@pytest.fixture(scope="module")
def browser(licenses: Licenses) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A page the size of a phone screen, as the camera app opens it."""
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  device_scale_factor=2, is_mobile=True, locale="zh-CN")
    page = context.new_page()
    blocked: list[str] = []  # what the content security policy refused, if anything
    page.on("console", lambda message: blocked.append(message.text)
            if "Content Security Policy" in message.text or "Refused" in message.text
            else None)
    page.csp_violations = blocked
    try:
        yield page
    finally:
        context.close()


def save_screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("YIWANG_SCREENSHOTS")
    if target:
        shutil.copyfile(path, Path(target) / name)
    return path


def verdict_of(page: Any) -> tuple[str, str]:
    box = page.locator("#verdict")
    return box.inner_text().strip(), box.evaluate("e => getComputedStyle(e).backgroundColor")


@needs_chromium
def test_phone_opens_a_valid_license_and_sees_green(live: Live, licenses: Licenses,
                                                    phone: Any, tmp_path: Path) -> None:
    issued = licenses.valid
    assert issued.qr_url.startswith(live.base_url + "/v/")

    response = phone.goto(issued.qr_url)

    assert response.status == 200 and response.headers["cache-control"] == "no-store"
    assert verdict_of(phone) == ("有效", GREEN)
    assert phone.locator("#reason").inner_text() == "证照真实有效。"
    face = phone.locator("#face")
    assert face.is_visible()
    assert issued.license.face["operator"] in face.inner_text()
    holder = issued.license.holder_id_masked
    assert holder[:8] + "*" * (len(holder) - 8) in face.inner_text()
    assert phone.csp_violations == []
    assert save_screenshot(phone, tmp_path, "verifier-valid.png").stat().st_size > 10_000


@needs_chromium
def test_phone_opens_a_revoked_license_and_sees_red_with_the_reason(
        licenses: Licenses, phone: Any, tmp_path: Path) -> None:
    phone.goto(licenses.revoked.qr_url)

    assert verdict_of(phone) == ("已吊销", RED)
    assert phone.locator("#reason").inner_text() == "证照已被吊销。"
    assert "该证照当前无效" in phone.content()
    assert phone.csp_violations == []
    save_screenshot(phone, tmp_path, "verifier-revoked.png")


@needs_chromium
def test_phone_opens_a_forged_code_and_sees_no_face_data(licenses: Licenses, phone: Any,
                                                         tmp_path: Path) -> None:
    phone.goto(forgeries.edit_payload(licenses.other.qr_url, 5, 20991231))

    assert verdict_of(phone) == ("无效", RED)
    assert phone.locator("#face").count() == 0
    save_screenshot(phone, tmp_path, "verifier-forged.png")


@needs_chromium
def test_pdf_uploaded_through_the_form(live: Live, licenses: Licenses, browser: Any,
                                       tmp_path: Path) -> None:
    pdf = tmp_path / "license.pdf"
    pdf.write_bytes(licenses.other.pdf)
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    try:
        page.goto(f"{live.base_url}/verify")
        page.set_input_files("#file", str(pdf))
        page.click("button[type=submit]")
        page.wait_for_selector("#verdict")
        assert verdict_of(page) == ("有效", GREEN)
        save_screenshot(page, tmp_path, "verifier-upload.png")
    finally:
        context.close()


def test_fifty_megabytes_over_a_real_socket_get_413_before_the_body(live: Live) -> None:
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as connection:
        connection.sendall(
            b"POST /api/v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/pdf\r\nContent-Length: 52428800\r\n\r\n%PDF-")
        answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def _revoke(world: World, issued: Issued) -> None:
    with world.session() as session:
        license = reading.find_license(session, issued.identifier)
        assert license is not None
        lifecycle.set_status(session, license, "07", reason="以欺骗手段取得许可",
                             actor="operator", now=utcnow())
