"""The PKI published at the URLs written into every certificate."""

from __future__ import annotations

from cryptography import x509
from flask.testing import FlaskClient

from yiwang.database import utcnow
from yiwang.runtime import Runtime


def test_root_certificate_is_downloadable(client: FlaskClient, runtime: Runtime) -> None:
    response = client.get("/pki/root.crt")
    assert response.status_code == 200
    assert response.mimetype == "application/pkix-cert"
    served = x509.load_der_x509_certificate(response.data)
    with runtime.session() as session:
        assert served == runtime.keystore.root_certificate(session)


def test_revoked_certificate_appears_in_the_served_crl(client: FlaskClient,
                                                       runtime: Runtime) -> None:
    with runtime.session() as session:
        department = runtime.keystore.create_department_keys(
            session, uscc="11110105MB0123457J", name="测试市市场监督管理局", now=utcnow())
    before = x509.load_der_x509_crl(client.get("/pki/issuing.crl").data)
    serial = int(department.certificate_serial, 16)
    assert before.get_revoked_certificate_by_serial_number(serial) is None

    with runtime.session() as session:
        runtime.keystore.revoke_certificate(session, department.certificate_serial,
                                            reason="keyCompromise", now=utcnow())
        issuing = runtime.keystore.issuing_certificate(session)
    response = client.get("/pki/issuing.crl")
    assert response.mimetype == "application/pkix-crl"
    crl = x509.load_der_x509_crl(response.data)
    assert crl.is_signature_valid(issuing.public_key())
    revoked = crl.get_revoked_certificate_by_serial_number(serial)
    assert revoked is not None
    assert revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason \
        == x509.ReasonFlags.key_compromise


def test_certificates_point_at_the_served_crl(runtime: Runtime) -> None:
    with runtime.session() as session:
        issuing = runtime.keystore.issuing_certificate(session)
    points = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    urls = [name.value for point in points for name in point.full_name]
    assert urls == [runtime.settings.issuer + "/pki/root.crl"]


def test_unknown_crl_is_404(client: FlaskClient) -> None:
    assert client.get("/pki/other.crl").status_code == 404
