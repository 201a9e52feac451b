"""``yiwang verify``: exit status 0 valid, 1 not valid, 2 could not evaluate."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.license_vault.helpers import World, rasterise
from tests.verify import forgeries
from tests.verify.conftest import Issued
from yiwang.cli import cli

Run = Callable[..., Result]


def environment(world: World) -> dict[str, str]:
    settings = world.settings
    return {"YIWANG_INSTANCE": str(settings.instance),
            "YIWANG_DATABASE_URL": settings.database_url,
            "YIWANG_MASTER_KEY_FILE": str(settings.master_key_file),
            "YIWANG_ISSUER": settings.issuer}


@pytest.fixture
def run(verify_world: World) -> Run:
    env = environment(verify_world)

    def invoke(*args: str) -> Result:
        return CliRunner(env=env).invoke(cli, ["verify", *args])

    return invoke


@pytest.fixture
def pdf_file(genuine: Issued, tmp_path: Path) -> Path:
    path = tmp_path / "license.pdf"
    path.write_bytes(genuine.pdf)
    return path


def test_valid_pdf_exits_0_with_a_readable_report(run: Run, pdf_file: Path,
                                                  genuine: Issued) -> None:
    result = run(str(pdf_file))
    assert result.exit_code == 0, result.output
    assert "有效  VALID" in result.output
    assert genuine.identifier in result.output
    assert "intact" in result.output and "passed" in result.output


def test_json_output_is_the_verdict(run: Run, pdf_file: Path, genuine: Issued) -> None:
    result = run(str(pdf_file), "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["bottom_line"] == "VALID" and body["kind"] == "pdf"
    assert body["signed_revision_sha256"] == genuine.license.pdf_sha256


def test_forged_pdf_exits_1_with_its_reason(run: Run, genuine: Issued, tmp_path: Path) -> None:
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(forgeries.append_page(genuine.pdf))
    result = run(str(forged), "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["bottom_line"] == "MODIFIED_AFTER_SIGNING"


def test_non_pdf_renamed_pdf_exits_1(run: Run, tmp_path: Path) -> None:
    fake = tmp_path / "license.pdf"
    fake.write_bytes(b"PK\x03\x04 this is a zip file")
    result = run(str(fake), "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["bottom_line"] == "MALFORMED"


def test_qr_text_online_and_offline(run: Run, genuine: Issued) -> None:
    online = run(genuine.qr_url)
    offline = run(genuine.qr_url, "--offline", "--json")
    assert online.exit_code == 0, online.output
    assert offline.exit_code == 0, offline.output
    body = json.loads(offline.output)
    assert body["online"] is False and body["facets"]["status"]["outcome"] == "not_checked"


def test_offline_with_a_cached_trust_list_file(run: Run, verify_world: World, genuine: Issued,
                                               tmp_path: Path) -> None:
    cached = tmp_path / "trust-list.jws"
    cached.write_text(verify_world.client().get("/trust-list.jws").get_data(as_text=True))
    assert run(genuine.qr_url, "--offline", "--trust-list", str(cached)).exit_code == 0

    tampered = tmp_path / "tampered.jws"
    header, body, signature = cached.read_text().split(".")
    tampered.write_text(f"{header}.{body[:-4]}AAAA.{signature}")
    result = run(genuine.qr_url, "--offline", "--trust-list", str(tampered))
    assert result.exit_code == 2
    assert "trust list" in result.output


def test_image_with_a_qr_code(run: Run, genuine: Issued, tmp_path: Path) -> None:
    png = rasterise(genuine.pdf, tmp_path)
    result = run(str(png))
    assert result.exit_code == 0, result.output


def test_verification_at_a_later_time(run: Run, genuine: Issued) -> None:
    result = run(genuine.qr_url, "--at", "2099-01-01", "--json")
    assert result.exit_code == 1
    assert json.loads(result.output)["bottom_line"] == "EXPIRED"


@pytest.mark.parametrize("text", ["hello", "https://yiwang.test/v/AAAA"])
def test_garbage_text_exits_1(run: Run, text: str) -> None:
    assert run(text).exit_code == 1


def test_could_not_evaluate_exits_2(run: Run, genuine: Issued, pdf_file: Path) -> None:
    assert run("missing.pdf").exit_code == 2
    assert run("no/such/file").exit_code == 2
    assert run(genuine.qr_url, "--at", "yesterday").exit_code == 2
    for out_of_range in ("0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00", "2200-01-02"):
        refused = run(genuine.qr_url, "--at", out_of_range)
        assert refused.exit_code == 2 and "between 1970 and 2199" in refused.output
    # offline, a PDF's vault facets cannot be checked: no verdict
    offline_pdf = run(str(pdf_file), "--offline", "--json")
    assert offline_pdf.exit_code == 2
    assert json.loads(offline_pdf.output)["bottom_line"] == "UNAVAILABLE"


def test_unreachable_database_exits_2(verify_world: World, genuine: Issued,
                                      tmp_path: Path) -> None:
    env = {**environment(verify_world),
           "YIWANG_DATABASE_URL": f"sqlite:///{tmp_path / 'missing' / 'nothing.db'}"}
    result = CliRunner(env=env).invoke(cli, ["verify", genuine.qr_url])
    assert result.exit_code == 2, result.output


def test_the_installed_command_reports_through_its_exit_status(
        verify_world: World, pdf_file: Path, genuine: Issued, tmp_path: Path) -> None:
    command = Path(sys.executable).with_name("yiwang")
    env = {**environment(verify_world), "PATH": "/usr/bin:/bin"}
    valid = subprocess.run([str(command), "verify", str(pdf_file)], env=env,
                           capture_output=True, text=True, timeout=120)
    forged = tmp_path / "forged.pdf"
    forged.write_bytes(forgeries.paint_over(genuine.pdf))
    invalid = subprocess.run([str(command), "verify", str(forged)], env=env,
                             capture_output=True, text=True, timeout=120)
    assert valid.returncode == 0, valid.stderr
    assert invalid.returncode == 1, invalid.stderr
    assert "MODIFIED_AFTER_SIGNING" in invalid.stdout
    assert invalid.stderr == ""  # a refused change is a verdict, not a logged traceback
