"""Issuing the demo license types, checked the way independent verifiers would."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography import x509
from gmssl import sm2 as pure_gmssl
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import event, inspect, select

from idp import accounts
from keys import sm2
from license_vault import departments, identifiers, issuance, reading
from license_vault.holders import unseal_id
from license_vault.models import License, LicenseEvent
from signing import face_digest, parse_qr_url, signed_revision_digest, verify_payload
from signing.errors import PayloadSignatureError
from signing.payload import mask_holder_name
from signing.qrsymbol import qr_version
from tests.keys.conftest import require_tool, run
from tests.license_vault.helpers import (
    BUSINESS,
    DEMO_FIELDS,
    FOOD,
    ISSUER_OF,
    PHYSICIAN,
    SAMR_USCC,
    World,
    demo_fields,
    entity_id,
    holder_for,
    pdfsig,
    person_id,
    rasterise,
)
from tests.signing.conftest import decode_with_zbar, decode_with_zxing
from yiwang.database import utcnow

DEMO_TYPES = [BUSINESS, FOOD, PHYSICIAN]


def _pdf(world: World, license: License) -> bytes:
    with world.session() as session:
        return reading.read_pdf(session, world.vault.blobs, license)


@pytest.mark.parametrize("type_code", DEMO_TYPES)
def test_each_demo_type_issues_a_license_pdfsig_finds_valid_trusted_and_whole(
        world: World, nss_db: str, tmp_path: Path, type_code: str) -> None:
    holder = holder_for(type_code, DEMO_TYPES.index(type_code) + 1)
    license = world.issue(type_code, holder)

    assert license.status == "01" and license.version == 1
    parsed = identifiers.parse(license.identifier)
    assert (parsed.type_code, parsed.issuer_uscc, parsed.version) == (
        type_code, ISSUER_OF[type_code], 1)
    assert license.face == demo_fields(type_code, holder)
    pdf = _pdf(world, license)
    assert hashlib.sha256(pdf).hexdigest() == license.pdf_sha256 == signed_revision_digest(pdf)
    assert sm2.sm3(pdf).hex() == license.pdf_sm3

    lines = pdfsig(pdf, nss_db, tmp_path)
    assert "Signature Validation: Signature is Valid." in lines, lines
    assert "Certificate Validation: Certificate is Trusted." in lines, lines
    assert "Total document signed" in lines, lines
    assert f"Signer Certificate Common Name: {world.department(ISSUER_OF[type_code]).name}" \
        in lines


def test_printed_number_follows_the_stem_of_region_year_and_type(world: World) -> None:
    first = world.issue(FOOD, entity_id(20))
    second = world.issue(FOOD, entity_id(21))
    stem = f"JY350100{first.issue_date.year}002"
    assert re.fullmatch(stem + r"\d{6}", first.license_number)
    assert int(second.license_number[len(stem):]) == int(first.license_number[len(stem):]) + 1


def test_food_license_is_valid_five_years_by_default(world: World) -> None:
    license = world.issue(FOOD, entity_id(22))
    start = license.issue_date
    assert license.valid_from == start
    if (start.month, start.day) != (2, 29):
        anniversary = start.replace(year=start.year + 5)
        assert license.valid_until == anniversary - dt.timedelta(days=1)


def test_business_license_runs_from_its_establishment_date_for_ever(world: World) -> None:
    license = world.issue(BUSINESS, entity_id(23))
    assert license.valid_from.isoformat() == DEMO_FIELDS[BUSINESS]["established"]
    assert license.valid_until is None


@pytest.mark.parametrize("type_code", DEMO_TYPES)
def test_printed_qr_scans_to_the_url_whose_payload_verifies_with_the_department_key(
        world: World, tmp_path: Path, type_code: str) -> None:
    holder = holder_for(type_code, 10 + DEMO_TYPES.index(type_code))
    license = world.issue(type_code, holder)
    png = rasterise(_pdf(world, license), tmp_path, dpi=150)
    assert decode_with_zxing(png) == [license.qr_url]
    assert decode_with_zbar(png) == [license.qr_url]
    assert qr_version(license.qr_url) <= 15, len(license.qr_url)

    issuer, token = parse_qr_url(license.qr_url)
    assert issuer == world.settings.issuer
    department = ISSUER_OF[type_code]
    with world.session() as session:
        own = world.runtime.keystore.verification_keys(session, "dept-qr", department,
                                                       now=utcnow())
        other = world.runtime.keystore.verification_keys(
            session, "dept-qr", next(uscc for uscc in set(ISSUER_OF.values())
                                     if uscc != department), now=utcnow())
    verified = verify_payload(token, own)
    payload = verified.payload
    assert verified.kid == license.qr_kid
    assert payload.identifier == license.identifier
    assert payload.issuer_uscc == department
    assert payload.holder_name_masked == mask_holder_name(license.holder_name,
                                                          entity=type_code != PHYSICIAN)
    assert "*" in payload.holder_id_masked and holder not in payload.holder_id_masked
    assert payload.valid_from == license.valid_from and payload.valid_until == license.valid_until
    assert payload.face_digest == face_digest(license.face) == bytes.fromhex(license.face_digest)
    with pytest.raises(PayloadSignatureError):
        verify_payload(token, other)


@pytest.fixture(scope="module")
def openssl_sm2() -> None:
    require_tool("openssl")
    if "SM2" not in run("openssl", "list", "-public-key-algorithms").stdout:
        pytest.skip("this OpenSSL has no SM2")


def test_seal_record_verifies_with_pure_gmssl_and_with_openssl(
        world: World, tmp_path: Path, openssl_sm2: None) -> None:
    license = world.issue(PHYSICIAN, person_id(30))
    pdf = _pdf(world, license)
    with world.session() as session:
        record = reading.seal_record(session, world.runtime.keystore, license)
    published = record.to_json()
    message = sm2.sm3(pdf) + license.identifier.encode("ascii")
    assert bytes.fromhex(published["message"]) == message
    assert published["user_id"] == "1234567812345678"
    assert record.verify(pdf) and not record.verify(pdf + b"\n")

    public_hex = published["public_key"]
    if not public_hex[2:].startswith("04"):  # pure gmssl mangles such keys (FACTS.md)
        oracle = pure_gmssl.CryptSM2(private_key="", public_key=public_hex[2:])
        assert oracle.verify_with_sm3(published["signature_rs"], message)
        assert not oracle.verify_with_sm3(published["signature_rs"], message + b"x")

    (tmp_path / "public.pem").write_text(published["public_key_pem"])
    (tmp_path / "message").write_bytes(message)
    (tmp_path / "signature.der").write_bytes(bytes.fromhex(published["signature"]))
    verified = run("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "public.pem",
                   "-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678",
                   "-sigfile", tmp_path / "signature.der", "-in", tmp_path / "message")
    assert "Signature Verified Successfully" in verified.stdout


def test_validation_material_alone_validates_the_signature_offline(world: World) -> None:
    license = world.issue(BUSINESS, entity_id(40))
    pdf = _pdf(world, license)
    with world.session() as session:
        material = reading.validation_material(session, license)
        root = world.runtime.keystore.root_certificate(session)
    certificates = [x509.load_der_x509_certificate(der) for der in material.certificates]
    assert format(certificates[0].serial_number, "x") == license.signing_certificate_serial
    assert root in certificates and len(certificates) == 4  # signer, issuing CA, root, TSA
    crls = [x509.load_der_x509_crl(der) for der in material.crls]
    assert {crl.issuer for crl in crls} == {certificates[1].subject, root.subject}
    assert all(crl.last_update_utc <= license.issued_at for crl in crls)

    from asn1crypto import x509 as asn1_x509

    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(material.certificates[2])],
        other_certs=[asn1_x509.Certificate.load(der) for der in material.certificates],
        crls=list(material.crls), allow_fetching=False, revocation_mode="hard-fail")
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    status = validate_pdf_signature(signature, signer_validation_context=context)
    assert status.bottom_line, status.pretty_print_details()


def test_license_is_found_by_identifier_and_by_the_digest_of_its_file(world: World) -> None:
    license = world.issue(FOOD, entity_id(41))
    pdf = _pdf(world, license)
    with world.session() as session:
        assert reading.find_license(session, license.identifier.lower()).id == license.id  # type: ignore[union-attr]
        by_file = reading.find_by_signed_revision(session, signed_revision_digest(pdf + b"%%\n"))
        assert by_file is not None and by_file.id == license.id
        assert reading.find_license(session, "1.2.156.3005.2.nonsense") is None
        assert reading.face_data(license) == DEMO_FIELDS[FOOD]


def test_holder_id_number_is_sealed_indexed_and_masked_never_in_clear(world: World) -> None:
    number = person_id(50)
    license = world.issue(PHYSICIAN, number)
    with world.session() as session:
        row = session.execute(select(License.__table__).where(License.id == license.id)).one()
        events = session.execute(select(LicenseEvent.__table__)
                                 .where(LicenseEvent.license_id == license.id)).all()
        assert not any(number in str(value) for value in row._mapping.values())
        assert not any(number in str(value) for event in events for value in event)
        assert license.holder_id_masked == number[:3] + "*" * 14 + number[-1:]
        assert unseal_id(world.runtime.keystore, license.holder_id_sealed) == number
        found = reading.holder_licenses(session, world.runtime.keystore, number)
        assert [item.id for item in found] == [license.id]
        index = accounts.lookup_index(world.runtime.keystore, number)  # type: ignore[arg-type]
        assert index is not None
        assert [item.id for item in reading.licenses_of_person_index(session, index)] == \
            [license.id]


def test_issuance_is_recorded_with_who_and_when(world: World) -> None:
    license = world.issue(BUSINESS, entity_id(51))
    with world.session() as session:
        [event] = reading.history(session, license)
    assert (event.action, event.from_status, event.to_status, event.actor) == (
        "issued", None, "01", "operator")
    assert event.at == license.issued_at


@contextmanager
def _database_calls(world: World) -> Iterator[list[str]]:
    """The statements and commits the instance's engine runs inside the block."""
    seen: list[str] = []

    def statement(_connection: object, _cursor: object, sql: str, *_: object) -> None:
        verb = sql.split(None, 1)[0].upper()
        if verb != "BEGIN":  # SQLite's, which yiwang.database emits itself
            seen.append(verb)

    def commit(_connection: object) -> None:
        seen.append("COMMIT")

    engine = world.runtime.engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)


def test_validation_reads_the_catalogue_and_the_keys_in_one_query_each(world: World) -> None:
    request = issuance.IssueRequest(FOOD, entity_id(60), DEMO_FIELDS[FOOD])
    with world.session() as session:
        department = departments.get_department(session, SAMR_USCC)
        now = utcnow()
        issuance.prepare(session, world.vault, department=department, request=request, now=now)
        with _database_calls(world) as calls:
            draft = issuance.prepare(session, world.vault, department=department,
                                     request=request, now=now)
    assert calls == ["SELECT", "SELECT"]
    assert draft.materials.qr_key.owner == draft.materials.sm2_key.owner == SAMR_USCC


def test_issuance_commits_the_number_at_once_and_the_license_last(world: World) -> None:
    world.issue(FOOD, entity_id(61))  # CRLs signed and validation items stored
    with world.session() as session:
        department = departments.get_department(session, SAMR_USCC)
        fresh_reads = issuance.reads_stay_fresh(session)
        with _database_calls(world) as calls:
            license = issuance.issue(
                session, world.vault, department=department, actor="operator", now=utcnow(),
                request=issuance.IssueRequest(FOOD, entity_id(62), DEMO_FIELDS[FOOD]))
        # Inserted without the unit of work, yet an ordinary object of the session.
        assert inspect(license).persistent and session.get(License, license.id) is license
    assert fresh_reads == (world.runtime.engine.dialect.name == "postgresql")
    # SQLite ends the validation's read first: a read snapshot cannot become a write.
    validate = ["SELECT", "SELECT"] + ([] if fresh_reads else ["COMMIT"])
    blob = ["INSERT"] if world.settings.blob_backend == "database" else []
    assert calls == [*validate, "UPDATE", "COMMIT", *blob, "INSERT", "INSERT", "COMMIT"]
    with world.session() as session:
        stored = session.execute(select(License.__table__).where(License.id == license.id)).one()
    assert {key: getattr(license, key) for key in stored._mapping} == dict(stored._mapping)
