"""The signed trust list: published at /trust-list.jws, verified against the pinned root."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from sqlalchemy.orm import Session

from keys import Purpose, pki
from keys import trust as key_trust
from license_vault import catalogue, departments
from license_vault.models import LicenseType
from tests.license_vault.helpers import FOOD, SAMR_USCC, World
from tests.verify import forgeries
from tests.verify.conftest import FreshVerifier, Issued, issue
from verify import Reason, TrustListError, trust_list, verify_qr_offline
from yiwang.database import utcnow


def fetch(world: World) -> str:
    response = world.client().get("/trust-list.jws")
    assert response.status_code == 200
    assert response.mimetype == "application/jose"
    assert "max-age" in response.headers["Cache-Control"]
    return response.get_data(as_text=True)


def root_of(world: World) -> x509.Certificate:
    with world.session() as session:
        return world.runtime.keystore.root_certificate(session)


def claims_of(token: str) -> dict[str, object]:
    segment = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


def register_issuer(world: World, uscc: str, name: str) -> None:
    with world.session() as session:
        departments.register_department(session, world.runtime.keystore, uscc=uscc, name=name,
                                        now=utcnow())
    with world.session() as session:
        record = session.get(LicenseType, FOOD)
        assert record is not None
        catalogue.add_license_type(session, {**record.definition, "issuers": [uscc]},
                                   now=utcnow())


def test_well_known_url_serves_the_same_list_as_flattened_json(verify_world: World) -> None:
    response = verify_world.client().get("/.well-known/yiwang-trust-list.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.json
    assert body is not None and set(body) == {"protected", "payload", "signature"}
    loaded = trust_list.load(body, root=root_of(verify_world), at=utcnow())
    also = trust_list.load(response.get_data(as_text=True), root=root_of(verify_world),
                           at=utcnow())
    assert loaded.qr_keys.keys() == also.qr_keys.keys()
    assert loaded.departments[SAMR_USCC].qr_kids


def test_published_list_names_departments_keys_cas_and_crl_urls(verify_world: World) -> None:
    token = fetch(verify_world)
    loaded = trust_list.load(token, root=root_of(verify_world), at=utcnow())

    assert loaded.issuer == verify_world.settings.issuer
    assert loaded.root == root_of(verify_world)
    assert loaded.root_crl_url == "https://yiwang.test/pki/root.crl"
    assert loaded.issuing_crl_url == "https://yiwang.test/pki/issuing.crl"
    assert loaded.tsa
    samr = loaded.departments[SAMR_USCC]
    assert samr.name == "福州市市场监督管理局"
    assert samr.qr_kids and all(loaded.qr_keys[kid].owner == SAMR_USCC for kid in samr.qr_kids)
    assert samr.signing_certificates
    certificate = samr.signing_certificates[0].certificate
    certificate.verify_directly_issued_by(loaded.issuing)
    claims = claims_of(token)
    assert claims["type"] == "yiwang-trust-list" and claims["version"] == 1
    assert isinstance(claims["exp"], int) and isinstance(claims["iat"], int)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["alg"] == "ES256" and len(header["x5c"]) == 2


def test_signer_certificate_chains_to_the_root_with_tsl_signing(
        verify_world: World, db_session: Session) -> None:
    key = verify_world.runtime.keystore.trust_list_key(db_session, now=utcnow())
    assert key.certificate is not None
    usage = key.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert key_trust.TSL_SIGNING in usage
    again = verify_world.runtime.keystore.trust_list_key(db_session, now=utcnow())
    assert again.kid == key.kid


def test_tampered_list_is_refused(verify_world: World) -> None:
    token = fetch(verify_world)
    header, _, signature = token.split(".")
    claims = claims_of(token)
    claims["issuer"] = "https://yiwang.evil.example"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TrustListError, match="does not verify"):
        trust_list.load(f"{header}.{forged_body}.{signature}", root=root_of(verify_world),
                        at=utcnow())


def test_list_under_another_root_is_refused(verify_world: World) -> None:
    other_root = pki.make_root_ca(pki.new_ec_key(), common_name="Yiwang Root CA",
                                  now=utcnow() - dt.timedelta(days=1))
    with pytest.raises(TrustListError, match="do not chain"):
        trust_list.load(fetch(verify_world), root=other_root, at=utcnow())


def test_expired_list_is_refused(verify_world: World) -> None:
    token = fetch(verify_world)
    expiry = dt.datetime.fromtimestamp(int(str(claims_of(token)["exp"])), dt.UTC)
    trust_list.load(token, root=root_of(verify_world), at=expiry - dt.timedelta(seconds=1))
    with pytest.raises(TrustListError, match="expired"):
        trust_list.load(token, root=root_of(verify_world), at=expiry + dt.timedelta(seconds=1))


def test_older_list_than_the_cached_one_is_refused(verify_world: World) -> None:
    token = fetch(verify_world)
    sequence = int(str(claims_of(token)["sequence"]))
    trust_list.load(token, root=root_of(verify_world), at=utcnow(), minimum_sequence=sequence)
    with pytest.raises(TrustListError, match="older"):
        trust_list.load(token, root=root_of(verify_world), at=utcnow(),
                        minimum_sequence=sequence + 1)


@pytest.mark.parametrize("token", ["", "a.b.c", "e30.e30.", "not a jws", 7, "{}", "{not json",
                                   {"protected": "e30", "payload": "e30"}, ["a", "b", "c"]])
def test_garbage_is_refused(verify_world: World, token: object) -> None:
    with pytest.raises(TrustListError):
        trust_list.load(token, root=root_of(verify_world), at=utcnow())


def test_outdated_list_does_not_know_a_new_departments_key(
        verify_world: World, verifier: FreshVerifier) -> None:
    cached = trust_list.load(fetch(verify_world), root=root_of(verify_world), at=utcnow())
    register_issuer(verify_world, "11350100000000035C", "福州市新设局")
    issued = issue(verify_world, department="11350100000000035C")

    stale = verify_qr_offline(issued.qr_url, cached)
    fresh = verify_qr_offline(issued.qr_url, trust_list.load(
        fetch(verify_world), root=root_of(verify_world), at=utcnow()))

    assert stale.bottom_line is Reason.QR_UNKNOWN_KEY
    assert "out of date" in stale.known_key.detail
    assert fresh.bottom_line is Reason.VALID


def test_rotated_qr_key_verifies_old_codes_until_unpublished(
        verify_world: World, verifier: FreshVerifier) -> None:
    uscc = "113501000000000437"
    register_issuer(verify_world, uscc, "福州市轮换局")
    old = issue(verify_world, department=uscc)
    with verify_world.session() as session:
        verify_world.runtime.keystore.rotate(session, Purpose.DEPT_QR, uscc, now=utcnow(),
                                             publish_for=dt.timedelta(days=30))
    new = issue(verify_world, department=uscc)
    cached = trust_list.load(fetch(verify_world), root=root_of(verify_world), at=utcnow())
    old_key = cached.qr_keys[str(verifier.verify_qr(old.qr_url).kid)]
    assert old_key.retired_at is not None and old_key.valid_until is not None

    for verdict in (verifier.verify_qr(old.qr_url), verify_qr_offline(old.qr_url, cached),
                    verifier.verify_qr(new.qr_url), verify_qr_offline(new.qr_url, cached)):
        assert verdict.bottom_line is Reason.VALID, verdict.to_json()
    later = old_key.valid_until + dt.timedelta(days=1)
    assert verifier.verify_qr(old.qr_url, at=later).bottom_line is Reason.QR_UNKNOWN_KEY


def test_revoked_signing_certificate_is_in_the_list_and_used_offline(
        verify_world: World, verifier: FreshVerifier, genuine: Issued) -> None:
    uscc = "113501000000000512"
    register_issuer(verify_world, uscc, "福州市撤证局")
    keystore = verify_world.runtime.keystore
    with verify_world.session() as session:
        key = keystore.active_key(session, Purpose.DEPT_SIGNING, uscc)
        assert key.certificate is not None
        serial = key.certificate.serial_number
        revoked = keystore.revoke_certificate(session, format(serial, "x"),
                                              reason="keyCompromise", now=utcnow())
        assert revoked.revoked_at is not None
        chain = [keystore.issuing_certificate(session), keystore.root_certificate(session)]
        stamper = keystore.timestamper(session, at=revoked.revoked_at + dt.timedelta(seconds=2))
    copy = forgeries.unsigned_copy(genuine.license, "福州市撤证局", genuine.qr_url)
    forged = forgeries.sign(copy, key, chain, stamper)
    cached = trust_list.load(fetch(verify_world), root=root_of(verify_world), at=utcnow())
    listed = {item.serial: item for item in cached.departments[uscc].signing_certificates}
    assert listed[serial].revoked_at is not None
    assert listed[serial].revocation_reason == "keyCompromise"
    verifier._trust = cached  # what an offline app holds

    offline = verifier.verify_pdf(forged, at=utcnow() + dt.timedelta(seconds=5), online=False)

    assert offline.bottom_line is Reason.SIGNER_CERT_REVOKED
    assert "trust list" in offline.certificate_good_at_signing.detail
