"""The ``keys`` command group against a real store, through click's runner."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from click.testing import CliRunner
from cryptography import x509
from sqlalchemy.orm import Session

from keys import Purpose
from keys.cli import keys_group
from tests.keys.conftest import DEPARTMENT_USCC, Store


class Context:
    """The protocol the application provides as ``click`` context object."""

    def __init__(self, store: Store) -> None:
        self.keystore = store.keystore
        self._sessions = store.sessions

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session


def _invoke(store: Store, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(keys_group, list(args), obj=Context(store))
    return result.exit_code, result.output


def test_list_prints_every_key_as_json(store: Store) -> None:
    code, output = _invoke(store, "list", "--json")
    assert code == 0, output
    listed = json.loads(output)
    assert {entry["purpose"] for entry in listed} == {
        "root-ca", "issuing-ca", "tsa", "idp-token", "dept-signing", "dept-qr", "dept-sm2"}
    signing = next(entry for entry in listed if entry["purpose"] == "dept-signing")
    assert signing["certificate_serial"] == store.department.certificate_serial
    assert signing["owner"] == DEPARTMENT_USCC
    code, table = _invoke(store, "list")
    assert code == 0 and store.department.qr_kid in table


def test_rotate_commits_a_new_active_key(store: Store) -> None:
    code, output = _invoke(store, "rotate", "--purpose", "dept-qr", "--owner", DEPARTMENT_USCC,
                           "--publish-days", "7", "--json")
    assert code == 0, output
    new_kid = json.loads(output)["kid"]
    with store.sessions() as session:
        assert store.keystore.active_key(session, Purpose.DEPT_QR, DEPARTMENT_USCC).kid == new_kid


def test_rotate_reports_errors_without_a_traceback(store: Store) -> None:
    code, output = _invoke(store, "rotate", "--purpose", "idp-token")
    assert code == 1
    assert "several algorithms" in output and "Traceback" not in output
    code, output = _invoke(store, "rotate", "--purpose", "root-ca")
    assert code == 1 and "cannot be rotated" in output


def test_revoke_cert_puts_the_serial_in_the_crl(store: Store) -> None:
    serial = store.department.certificate_serial
    code, output = _invoke(store, "revoke-cert", serial, "--reason", "keyCompromise")
    assert code == 0, output
    assert serial in output
    with store.sessions() as session:
        crl = x509.load_der_x509_crl(store.keystore.crl(session, now=store.now))
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    code, output = _invoke(store, "revoke-cert", serial, "--reason", "bored")
    assert code == 2  # click refuses the reason before anything runs


def test_root_cert_prints_the_trust_anchor(store: Store) -> None:
    code, output = _invoke(store, "root-cert")
    assert code == 0
    printed = x509.load_pem_x509_certificate(output.encode())
    with store.sessions() as session:
        assert printed == store.keystore.root_certificate(session)
