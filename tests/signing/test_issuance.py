"""The whole signing pipeline as the vault runs it, checked the way a verifier would."""

from __future__ import annotations

import datetime as dt

import pytest

from signing import (
    build_payload,
    face_digest,
    parse_qr_url,
    qr_url,
    render_license,
    sign_payload,
    sign_pdf,
    verify_payload,
)
from signing.qrsymbol import qr_version

FACE_FIELDS = {
    "name": "北京云栖数智科技有限公司",
    "uscc": "91110108MA01W8XK8G",
    "legal_representative": "张伟",
    "registered_capital": "10000000",
}
LONG_ENTITY = ("新疆维吾尔自治区乌鲁木齐市高新技术产业开发区"
               "某某国际能源科技集团股份有限公司第一分公司")


@pytest.mark.parametrize(
    ("issuer", "holder", "serial"),
    [
        ("https://yiwang.example.gov.cn", "北京云栖数智科技有限公司", "7K3M9Q2X4B8N1P5R6T0W"),
        # 40-character issuer, long entity name, serial at the format's 64-character maximum.
        ("https://zwfw.yiwang.example-province.gov", LONG_ENTITY,
         "7K3M9Q2X4B8N1P5R6T0W" * 3 + "ABCD"),
    ],
)
def test_printed_qr_scans_back_to_a_payload_that_verifies_and_binds_the_face(
    department, qr_key, face_factory, test_pki, rasterise, qr_decoders,
    issuer: str, holder: str, serial: str,
) -> None:
    from stdnum.iso7064 import mod_37_36

    body = f"11100000000013127D001{department.uscc}{serial}001"
    identifier = (f"1.2.156.3005.2.11100000000013127D001.{department.uscc}.{serial}.001."
                  f"{mod_37_36.calc_check_digit(body)}")
    payload = build_payload(
        identifier=identifier, holder_name=holder, holder_is_entity=True,
        holder_id_masked="91110108**********",
        valid_from=dt.date(2019, 3, 15), valid_until=None,
        issued_at=dt.datetime(2024, 6, 3, 1, 30, tzinfo=dt.UTC), face_fields=FACE_FIELDS,
    )
    url = qr_url(issuer, sign_payload(payload, qr_key))
    face = face_factory(qr_url=url, identifier=identifier, holder_name=holder)
    signed = sign_pdf(render_license(face), signer=test_pki.signer,
                      timestamper=test_pki.timestamper, reason="签发电子证照", location="北京")

    png = rasterise(signed.data, dpi=150)
    print(f"{len(url)} characters, QR version {qr_version(url)}")
    for name, decode in qr_decoders.items():
        assert decode(png) == [url], name

    scanned_issuer, token = parse_qr_url(url)
    assert scanned_issuer == issuer
    verified = verify_payload(token, {qr_key.kid: qr_key.public_key})
    assert verified.kid == qr_key.kid and verified.payload == payload
    assert verified.payload.issuer_uscc == department.uscc
    assert verified.payload.face_digest == face_digest(dict(reversed(list(FACE_FIELDS.items()))))
