"""SM2/SM3 interoperability: our signatures against pure gmssl and OpenSSL, both ways."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from gmssl import sm2 as pure_gmssl
from sqlalchemy.orm import Session

from keys import KeyNotFoundError, Purpose, SM2Error, sm2
from tests.keys.conftest import DEPARTMENT_USCC, Store, require_tool, run

MESSAGE = "电子证照 1.2.156.3005.2 license payload".encode()
DISTID = "distid:1234567812345678"


@pytest.fixture(scope="module")
def openssl_sm2() -> None:
    require_tool("openssl")
    probe = subprocess.run(["openssl", "list", "-public-key-algorithms"],
                           capture_output=True, text=True, check=False)
    if "SM2" not in probe.stdout:
        pytest.skip(f"this OpenSSL has no SM2: {run('openssl', 'version').stdout.strip()}")


def _pure_gmssl_friendly_key() -> tuple[bytes, bytes]:
    # Pure gmssl strips a leading "04" from the public key character-wise
    # (lstrip), mangling 128-hex keys whose X happens to start with 0x04.
    while True:
        private, public = sm2.generate()
        if not public[1:].hex().startswith("04"):
            return private, public


def test_sm3_matches_the_standard_vector() -> None:
    # GB/T 32905-2016 Appendix A, example 1.
    assert sm2.sm3(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")


def test_our_signature_verifies_with_pure_gmssl() -> None:
    private, public = _pure_gmssl_friendly_key()
    signature = sm2.sign(private, public, MESSAGE)
    r, s = decode_dss_signature(signature)
    rs_hex = f"{r:064x}{s:064x}"
    oracle = pure_gmssl.CryptSM2(private_key="", public_key=public[1:].hex())
    assert oracle.verify_with_sm3(rs_hex, MESSAGE)
    assert not oracle.verify_with_sm3(rs_hex, MESSAGE + b"!")


def test_store_signature_verifies_with_openssl(
    openssl_sm2: None, pki: Store, pki_session: Session, tmp_path: Path
) -> None:
    kid, signature = pki.keystore.sm2_sign(pki_session, DEPARTMENT_USCC, MESSAGE)
    assert kid == pki.department.sm2_kid
    public = pki.keystore.sm2_public_key(pki_session, kid)
    (tmp_path / "public.pem").write_text(sm2.public_key_pem(public))
    (tmp_path / "message").write_bytes(MESSAGE)
    (tmp_path / "signature.der").write_bytes(signature)
    verify = ("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "public.pem",
              "-rawin", "-digest", "sm3", "-pkeyopt", DISTID,
              "-sigfile", tmp_path / "signature.der", "-in")
    assert "Signature Verified Successfully" in run(*verify, tmp_path / "message").stdout
    (tmp_path / "other").write_bytes(MESSAGE + b"!")
    assert run(*verify, tmp_path / "other", check=False).returncode != 0


def test_openssl_signature_verifies_with_ours(openssl_sm2: None, tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    run("openssl", "genpkey", "-algorithm", "SM2", "-out", key)
    run("openssl", "pkey", "-in", key, "-pubout", "-outform", "DER", "-out", tmp_path / "pub.der")
    (tmp_path / "message").write_bytes(MESSAGE)
    run("openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-digest", "sm3",
        "-pkeyopt", DISTID, "-in", tmp_path / "message", "-out", tmp_path / "signature.der")
    public = sm2.public_key_from_der((tmp_path / "pub.der").read_bytes())
    signature = (tmp_path / "signature.der").read_bytes()
    assert sm2.verify(public, MESSAGE, signature)
    assert not sm2.verify(public, MESSAGE + b"!", signature)
    # The user ID is part of what is signed.
    assert not sm2.verify(public, MESSAGE, signature, user_id=b"another-user-id")


def test_malformed_signature_is_simply_invalid() -> None:
    private, public = sm2.generate()
    signature = sm2.sign(private, public, MESSAGE)
    assert sm2.verify(public, MESSAGE, signature)
    assert not sm2.verify(public, MESSAGE, b"\x30\x00")
    assert not sm2.verify(public, MESSAGE, signature[:-1])


def test_invalid_sm2_keys_raise_sm2_error() -> None:
    _, public = sm2.generate()
    with pytest.raises(SM2Error):
        sm2.verify(b"\x04" + b"\x01" * 64, MESSAGE, b"\x30\x00")  # not on the curve
    with pytest.raises(SM2Error):
        sm2.sign(b"\x00" * 32, public, MESSAGE)  # zero is not a private key
    with pytest.raises(SM2Error):
        sm2.public_key_from_der(b"\x30\x00")


def test_sm2_public_key_lookup_refuses_other_keys(pki: Store, pki_session: Session) -> None:
    with pytest.raises(KeyNotFoundError):
        pki.keystore.sm2_public_key(pki_session, pki.department.qr_kid)
    with pytest.raises(KeyNotFoundError):
        pki.keystore.sm2_sign(pki_session, "91110000MA0000001L", MESSAGE)  # no such department
    key = pki.keystore.active_key(pki_session, Purpose.DEPT_SM2, DEPARTMENT_USCC)
    assert key.algorithm == "SM2"
