"""Fixtures for the signing tests: a real PKI built once, real external tools.

The PKI comes from ``keys.pki`` (root → issuing CA → department document
signing certificate and RSA time-stamping authority) and the pyHanko signer
and time stamper from ``keys.pades``, exactly as the vault will build them.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import zxingcpp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from PIL import Image
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko_certvalidator import ValidationContext

from keys import pki
from keys.material import SigningKey
from keys.pades import asn1_certificate, make_signer, make_timestamper
from signing.render import LicenseFace

DEPARTMENT = "北京市海淀区市场监督管理局"
# Fictitious, valid under idp.identifiers.uscc: authority 1 (机构编制), type 1 (机关), Haidian,
# organisation code 00004494-3 (check characters from calc_organisation_check_digit and
# calc_check_digit).
DEPARTMENT_USCC = "11110108000044943U"
ISSUER = "https://yiwang.example.gov.cn"
CRL_URL = "http://127.0.0.1:8080/crl/issuing.crl"
SCOPE = (
    "一般项目：技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广；软件开发；"
    "信息系统集成服务；数据处理和存储支持服务；人工智能应用软件开发；计算机系统服务；"
    "网络技术服务。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）\n"
    "许可项目：第一类增值电信业务；互联网信息服务。（依法须经批准的项目，经相关部门批准后"
    "方可开展经营活动，具体经营项目以相关部门批准文件或许可证件为准）"
)
IDENTIFIER = (
    "1.2.156.3005.2.11100000000013127D001.11110108000044943U.7K3M9Q2X4B8N1P5R6T0W.001.P"
)


@dataclass(frozen=True)
class TestPki:
    root: x509.Certificate
    signer: Signer
    timestamper: TimeStamper
    validation_context: Callable[[], ValidationContext]
    crls: tuple[x509.CertificateRevocationList, ...]


@pytest.fixture(scope="session")
def test_pki() -> TestPki:
    # Certificates start a little in the past so validators running "now" accept them.
    now = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    root_key = pki.new_ec_key()
    root = pki.make_root_ca(root_key, common_name="Yiwang Test Root CA", now=now)
    ca_key = pki.new_ec_key()
    ca = pki.make_issuing_ca(
        ca_key, root_key=root_key, root_cert=root,
        crl_url="http://127.0.0.1:8080/crl/root.crl", now=now,
    )
    tsa_key = pki.new_rsa_key()
    tsa = pki.make_tsa_certificate(tsa_key, ca_key=ca_key, ca_cert=ca, crl_url=CRL_URL, now=now)
    doc_key = pki.new_ec_key()
    doc = pki.make_document_signing_certificate(
        doc_key.public_key(), organisation=DEPARTMENT, uscc=DEPARTMENT_USCC,
        ca_key=ca_key, ca_cert=ca, crl_url=CRL_URL, now=now,
    )
    chain = [asn1_certificate(ca), asn1_certificate(root)]
    signer = make_signer(
        SigningKey(kid="dept-pdf", algorithm="EC-P256", purpose="dept-signing",
                   owner=DEPARTMENT_USCC, private_key=doc_key, public_key=doc_key.public_key(),
                   certificate=doc),
        chain,
    )
    timestamper = make_timestamper(
        SigningKey(kid="tsa", algorithm="RSA-2048", purpose="tsa", owner=None,
                   private_key=tsa_key, public_key=tsa_key.public_key(), certificate=tsa),
        chain,
    )

    crls = (
        pki.make_crl(root_key, root, [], now=now, next_update=now + dt.timedelta(days=7)),
        pki.make_crl(ca_key, ca, [], now=now, next_update=now + dt.timedelta(days=7)),
    )

    def validation_context() -> ValidationContext:
        # Nothing is fetched (no network): the CRLs are handed over, and a
        # missing one is tolerated because revocation is the verify package's business.
        return ValidationContext(
            trust_roots=[asn1_certificate(root)], allow_fetching=False,
            revocation_mode="soft-fail",
            crls=[crl.public_bytes(serialization.Encoding.DER) for crl in crls],
        )

    return TestPki(root, signer, timestamper, validation_context, crls)


def _es256_key(kid: str) -> SigningKey:
    key = pki.new_ec_key()
    return SigningKey(kid=kid, algorithm="ES256", purpose="dept-qr", owner=DEPARTMENT_USCC,
                      private_key=key, public_key=key.public_key())


@pytest.fixture(scope="session")
def qr_key() -> SigningKey:
    # secrets.token_urlsafe(8) is what the key store uses for kids: 11 characters.
    return _es256_key("qJ3vX9kLm2A")


@pytest.fixture(scope="session")
def other_qr_key() -> SigningKey:
    return _es256_key("Zr8Tn1wQp5C")


@pytest.fixture(scope="session")
def nss_db(tmp_path_factory: pytest.TempPathFactory, test_pki: TestPki) -> str:
    """A throwaway NSS database trusting only the test root, for pdfsig."""
    folder = tmp_path_factory.mktemp("nss")
    root_pem = folder / "root.pem"
    root_pem.write_bytes(test_pki.root.public_bytes(serialization.Encoding.PEM))
    db = f"sql:{folder}"
    subprocess.run(["certutil", "-N", "--empty-password", "-d", db], check=True)
    subprocess.run(
        ["certutil", "-A", "-n", "root", "-t", "CT,C,C", "-i", str(root_pem), "-d", db],
        check=True,
    )
    return db


def sample_face(**changes: object) -> LicenseFace:
    """A realistic (fictitious) business licence face."""
    fields: dict[str, object] = {
        "title": "营业执照",
        "license_number": "110108012345678",
        "holder_name": "北京云栖数智科技有限公司",
        "holder_label": "名称",
        "rows": [
            ("统一社会信用代码", "91110108MA01W8XK8G", "text"),
            ("类型", "有限责任公司（自然人投资或控股）", "enumeration"),
            ("法定代表人", "张伟", "text"),
            ("注册资本", "10000000", "money"),
            ("成立日期", "2019-03-15", "date"),
            ("住所", "北京市海淀区中关村大街27号中关村大厦12层1203室", "text"),
            ("经营范围", SCOPE, "multiline"),
        ],
        "issuing_department": DEPARTMENT,
        "issue_date": dt.date(2024, 6, 3),
        "valid_from": dt.date(2019, 3, 15),
        "valid_until": None,
        "identifier": IDENTIFIER,
        "qr_url": ISSUER + "/v/0oRQogEmBEtxSjN2WDlrTG0yQaBYnKcAAQF4UjEuMi4xNTYuMzAwNS4y",
    }
    fields.update(changes)
    return LicenseFace(**fields)  # type: ignore[arg-type]


@pytest.fixture
def face_factory() -> Callable[..., LicenseFace]:
    return sample_face


# ---------------------------------------------------------------------------
# External tools


@dataclass(frozen=True)
class PdfFont:
    name: str
    type: str
    embedded: bool
    subset: bool


@pytest.fixture
def pdffonts(tmp_path: Path) -> Callable[[bytes], list[PdfFont]]:
    """Fonts poppler finds in a PDF (name, type, emb, sub)."""

    def run(pdf: bytes) -> list[PdfFont]:
        path = tmp_path / "fonts.pdf"
        path.write_bytes(pdf)
        out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
        lines = out.stdout.splitlines()[2:]  # header and dashes
        fonts = []
        for line in lines:
            # name, type (may contain spaces), encoding, emb, sub, uni, object, generation
            parts = line.split()
            emb, sub = parts[-5], parts[-4]
            fonts.append(PdfFont(parts[0], " ".join(parts[1:-6]), emb == "yes", sub == "yes"))
        return fonts

    return run


@pytest.fixture
def rasterise(tmp_path: Path) -> Callable[..., Path]:
    """Render page 1 of a PDF to PNG with pdftoppm."""

    def run(pdf: bytes, dpi: int = 150) -> Path:
        source = tmp_path / "page.pdf"
        source.write_bytes(pdf)
        stem = tmp_path / f"page-{dpi}"
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(source), str(stem)],
            check=True,
        )
        return stem.with_suffix(".png")

    return run


def decode_with_zxing(png: Path) -> list[str]:
    with Image.open(png) as image:
        return [result.text for result in zxingcpp.read_barcodes(image)
                if result.format == zxingcpp.BarcodeFormat.QRCode]


def decode_with_zbar(png: Path) -> list[str]:
    if shutil.which("zbarimg") is None:
        pytest.skip("zbarimg is not installed")
    out = subprocess.run(["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable",
                          str(png)], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if line]


@pytest.fixture
def qr_decoders() -> dict[str, Callable[[Path], list[str]]]:
    return {"zxing-cpp": decode_with_zxing, "zbarimg": decode_with_zbar}


@pytest.fixture
def pdfsig(tmp_path: Path, nss_db: str) -> Callable[[bytes], list[str]]:
    """pdfsig's report lines for a PDF, trusting only the test root (no OCSP)."""

    def run(pdf: bytes) -> list[str]:
        path = tmp_path / "signed.pdf"
        path.write_bytes(pdf)
        out = subprocess.run(["pdfsig", "-nssdir", nss_db, "-no-ocsp", str(path)],
                             capture_output=True, text=True, check=False)
        return [line.strip(" -") for line in out.stdout.splitlines()]

    return run


@dataclass(frozen=True)
class Department:
    name: str
    uscc: str
    issuer: str
    identifier: str


@pytest.fixture(scope="session")
def department() -> Department:
    """The fictitious issuing department every test license comes from."""
    return Department(DEPARTMENT, DEPARTMENT_USCC, ISSUER, IDENTIFIER)
