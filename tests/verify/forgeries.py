"""The forgery corpus: attacks built from genuine issued licenses.

Every function takes real bytes or a real QR URL and returns what a forger
could make of it, with real tools (pyHanko, cryptography, cbor2): nothing
here fakes the verifier's view of the world.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import re
import struct
import zlib

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import DictionaryObject, NameObject, StreamObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, copy_into_new_writer
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import add_validation_info
from pyhanko_certvalidator import ValidationContext

from keys import cose, pki
from keys.material import SigningKey
from keys.pades import asn1_certificate, make_signer, make_timestamper
from license_vault.models import License
from signing import LicenseFace, render_license, sign_pdf
from signing.payload import parse_qr_url, qr_url

# -- PDF: changes after signing -------------------------------------------------------------------


def _incremental(pdf: bytes) -> IncrementalPdfFileWriter:
    return IncrementalPdfFileWriter(io.BytesIO(pdf))


def _written(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def paint_over(pdf: bytes) -> bytes:
    """An incremental update painting a white box and other text over the face."""
    writer = _incremental(pdf)
    font = writer.add_object(DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica")}))
    content = b"q 1 1 1 rg 60 420 480 120 re f Q BT /FForge 14 Tf 80 480 Td (FORGED) Tj ET"
    box = writer.add_object(StreamObject(stream_data=content))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    resources = page["/Resources"]
    fonts = resources["/Font"] if "/Font" in resources else DictionaryObject()
    fonts[NameObject("/FForge")] = font
    resources[NameObject("/Font")] = fonts
    writer.update_container(page)
    writer.update_container(resources)
    writer.update_container(fonts)
    writer.add_stream_to_page(0, box)
    return _written(writer)


def append_page(pdf: bytes) -> bytes:
    """An incremental update adding a second page."""
    writer = _incremental(pdf)
    contents = writer.add_object(StreamObject(stream_data=b"0 0 1 rg 72 720 200 40 re f"))
    writer.insert_page(PageObject(contents=contents, media_box=generic.ArrayObject(
        [generic.NumberObject(n) for n in (0, 0, 595, 842)])))
    return _written(writer)


def hidden_update(pdf: bytes) -> bytes:
    """An update painting over the page, appended without its closing ``%%EOF``.

    pyHanko reads a file from the last ``%%EOF`` in its final kilobyte and
    never sees the update; poppler follows the last ``startxref`` and renders
    it. Written by hand: pyHanko's writer would also rewrite the XMP metadata,
    and the update would no longer fit in that kilobyte.
    """
    reader = PdfFileReader(io.BytesIO(pdf))
    kids = reader.root["/Pages"]["/Kids"]
    page_reference, page = kids.raw_get(0).reference, kids[0]
    box = reader.trailer["/Size"]
    page[NameObject("/Contents")] = generic.ArrayObject(
        [page.raw_get("/Contents"), generic.IndirectObject(box, 0, reader)])
    page_bytes = io.BytesIO()
    page.write_to_stream(page_bytes)
    paint = b"q 1 0 0 rg 60 420 480 120 re f Q"
    out = bytearray(pdf)
    box_at = len(out)
    out += b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (
        box, len(paint), paint)
    page_at = len(out)
    out += b"%d 0 obj\n%s\nendobj\n" % (page_reference.idnum, page_bytes.getvalue())
    xref_at = len(out)
    out += b"xref\n%d 1\n%010d 00000 n \n%d 1\n%010d 00000 n \n" % (
        page_reference.idnum, page_at, box, box_at)
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n" % (
        box + 1, reader.trailer.raw_get("/Root").idnum, reader.last_startxref, xref_at)
    return bytes(out)


def rewrite_metadata(pdf: bytes, **entries: str) -> bytes:
    """An incremental update rewriting entries of the document information dictionary."""
    writer = _incremental(pdf)
    info = writer.trailer["/Info"].get_object()
    for key, value in entries.items():
        info[NameObject("/" + key)] = generic.TextStringObject(value)
    writer.update_container(info)
    return _written(writer)


def decompression_bomb(pdf: bytes, megabytes: int = 400, *, layered: bool = False) -> bytes:
    """An incremental update whose new page content inflates to ``megabytes`` of zeros.

    ``layered`` wraps it as [/ASCII85Decode /FlateDecode /FlateDecode]: a few
    kilobytes of text that inflate twice.
    """
    compressor = zlib.compressobj(9)
    zeros = bytes(1 << 20)
    encoded = b"".join(compressor.compress(zeros) for _ in range(megabytes)) + compressor.flush()
    filters: generic.PdfObject = NameObject("/FlateDecode")
    if layered:
        encoded = base64.a85encode(zlib.compress(encoded, 9)) + b"~>"
        filters = generic.ArrayObject([NameObject("/ASCII85Decode"),
                                       NameObject("/FlateDecode"), NameObject("/FlateDecode")])
    writer = _incremental(pdf)
    stream = StreamObject(dict_data=DictionaryObject({NameObject("/Filter"): filters}),
                          encoded_data=encoded)
    writer.add_stream_to_page(0, writer.add_object(stream))
    return _written(writer)


def wrap_byte_range(pdf: bytes) -> bytes:
    """Signature wrapping: move the second signed range so the unsigned gap also wraps
    the ByteRange itself and the signing date after it, and change that date.

    The file keeps its length (no offset moves); the ByteRange now claims that
    bytes the signature covered are outside it.
    """
    match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert match is not None
    start, first, second, length = (int(value) for value in match.groups())
    date = re.compile(rb"/M \(D\\07220(\d{2})").search(pdf, second)
    assert date is not None
    grow = date.end() - second
    rewritten = f"/ByteRange [{start} {first} {second + grow} {length - grow}]".encode()
    rewritten = rewritten.ljust(len(match.group(0)))
    assert len(rewritten) == len(match.group(0))
    data = bytearray(pdf[:match.start()] + rewritten + pdf[match.end():])
    year = b"%02d" % ((int(date.group(1)) + 1) % 100)  # the forger's date, one year later
    data[date.start(1):date.end(1)] = year
    return bytes(data)


def reshape_byte_range(pdf: bytes, shape: str) -> bytes:
    """The ByteRange rewritten in place, ``shape`` formatted with its four values.

    ``"{0} {1} {2} {3} 0 0"`` adds two values, ``"1 {1} {2} {3}"`` moves its start.
    """
    match = re.search(rb"/ByteRange\s*\[([\d\s]+)\]", pdf)
    assert match is not None
    values = [int(value) for value in match.group(1).split()]
    rewritten = shape.format(*values).encode()
    width = len(match.group(1))
    rewritten = rewritten[:width] if len(rewritten) > width else rewritten.ljust(width)
    return pdf[:match.start(1)] + rewritten + pdf[match.end(1):]


def strip_signature(pdf: bytes) -> bytes:
    """An incremental update removing the signature field, its widget and DocMDP."""
    writer = _incremental(pdf)
    root = writer.root
    for name in ("/AcroForm", "/Perms"):
        if name in root:
            del root[name]
    writer.update_root()
    page = root["/Pages"]["/Kids"][0].get_object()
    if "/Annots" in page:
        del page["/Annots"]
        writer.update_container(page)
    return _written(writer)


def rewrite_unsigned(pdf: bytes) -> bytes:
    """The whole file written anew without the signature (no trace of it left)."""
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(pdf)))
    root = writer.root
    for name in ("/AcroForm", "/Perms"):
        if name in root:
            del root[name]
    for page_ref in root["/Pages"]["/Kids"]:
        page = page_ref.get_object()
        if "/Annots" in page:
            del page["/Annots"]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def truncate(pdf: bytes, keep: int) -> bytes:
    return pdf[:keep]


# -- PDF: long-term validation data the vault may add ---------------------------------------------


def add_dss(pdf: bytes, *, root: x509.Certificate, crls: list[bytes], at: dt.datetime
            ) -> bytes:
    """A DSS revision with the chain and CRLs (pyHanko ``add_validation_info``) at ``at``."""
    reader = PdfFileReader(io.BytesIO(pdf))
    signature = reader.embedded_signatures[0]
    context = ValidationContext(trust_roots=[asn1_certificate(root)], crls=crls,
                                allow_fetching=False, revocation_mode="soft-fail", moment=at)
    out = add_validation_info(signature, context, in_place=False)
    return out.getvalue()


def add_document_timestamp(pdf: bytes, timestamper: TimeStamper) -> bytes:
    """A document timestamp revision (PAdES B-LTA style)."""
    out = PdfTimeStamper(timestamper).timestamp_pdf(_incremental(pdf), "sha256")
    return out.getvalue()


# -- PDF: signatures by others --------------------------------------------------------------------


def unsigned_copy(license: License, department_name: str, qr: str) -> bytes:
    """The license face rendered anew, as a forger would copy it (unsigned)."""
    face = LicenseFace(
        title="食品经营许可证", license_number=license.license_number,
        holder_name=license.holder_name,
        rows=[(key, value, "multiline" if "\n" in value else "text")
              for key, value in license.face.items()],
        issuing_department=department_name, issue_date=license.issue_date,
        valid_from=license.valid_from, valid_until=license.valid_until,
        identifier=license.identifier, qr_url=qr)
    return render_license(face)


def sign(pdf: bytes, key: SigningKey, chain: list[x509.Certificate], stamper: TimeStamper
         ) -> bytes:
    signer = make_signer(key, [asn1_certificate(certificate) for certificate in chain])
    return sign_pdf(pdf, signer=signer, timestamper=stamper, reason="签发电子证照",
                    location="forged").data


def lookalike_pki(template_root: x509.Certificate, template_issuing: x509.Certificate,
                  department: x509.Certificate, *, now: dt.datetime
                  ) -> tuple[SigningKey, list[x509.Certificate], TimeStamper]:
    """Another CA with the same names as ours, a department certificate with the same
    subject, and a time-stamping authority of its own."""
    root_key = pki.new_ec_key()
    root = pki.make_root_ca(root_key, common_name=_common_name(template_root), now=now)
    ca_key = pki.new_ec_key()
    issuing = pki.make_issuing_ca(ca_key, root_key=root_key, root_cert=root,
                                  crl_url="https://yiwang.test/pki/root.crl", now=now,
                                  common_name=_common_name(template_issuing))
    assert issuing.subject == template_issuing.subject and root.subject == template_root.subject
    doc_key = pki.new_ec_key()
    organisation = department.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    uscc = department.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value
    certificate = pki.make_document_signing_certificate(
        doc_key.public_key(), organisation=str(organisation), uscc=str(uscc), ca_key=ca_key,
        ca_cert=issuing, crl_url="https://yiwang.test/pki/issuing.crl", now=now)
    assert certificate.subject == department.subject
    tsa_key = pki.new_rsa_key()
    tsa = pki.make_tsa_certificate(tsa_key, ca_key=ca_key, ca_cert=issuing,
                                   crl_url="https://yiwang.test/pki/issuing.crl", now=now)
    chain = [asn1_certificate(issuing), asn1_certificate(root)]
    stamper = make_timestamper(SigningKey("tsa", "RSA-2048", "tsa", None, tsa_key,
                                          tsa_key.public_key(), tsa), chain)
    key = SigningKey("fake", "EC-P256", "dept-signing", str(uscc), doc_key,
                     doc_key.public_key(), certificate)
    return key, [issuing, root], stamper


def short_lived_certificate(ca: SigningKey, department: x509.Certificate, *,
                            not_before: dt.datetime, not_after: dt.datetime) -> SigningKey:
    """A document-signing certificate from our own issuing CA, valid only briefly."""
    assert ca.certificate is not None and isinstance(ca.private_key, ec.EllipticCurvePrivateKey)
    key = pki.new_ec_key()
    ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    certificate = (
        x509.CertificateBuilder().subject_name(department.subject)
        .issuer_name(ca.certificate.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=True, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([pki.DOCUMENT_SIGNING,
                                              ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                       critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(ca.private_key, hashes.SHA256()))
    return SigningKey("short", "EC-P256", "dept-signing", None, key, key.public_key(),
                      certificate)


def _common_name(certificate: x509.Certificate) -> str:
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


# -- QR codes -------------------------------------------------------------------------------------


def cose_parts(url: str) -> tuple[str, list[object]]:
    issuer, token = parse_qr_url(url)
    message = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    return issuer, cose.loads_deterministic(message, tag=cose.COSE_SIGN1_TAG)


def cose_url(issuer: str, parts: list[object]) -> str:
    message = cose.dumps_deterministic(cbor2.CBORTag(cose.COSE_SIGN1_TAG, parts))
    return qr_url(issuer, base64.urlsafe_b64encode(message).rstrip(b"=").decode("ascii"))


def edit_payload(url: str, key: int, value: object) -> str:
    """Change one payload member (e.g. the validity end) and keep the signature."""
    issuer, parts = cose_parts(url)
    payload = cose.loads_deterministic(parts[2])  # type: ignore[arg-type]
    payload[key] = value
    parts[2] = cose.dumps_deterministic(payload)
    return cose_url(issuer, parts)


def resign(url: str, key: SigningKey, *, payload: dict[int, object] | None = None) -> str:
    """The same (or another) payload signed anew by ``key``."""
    issuer, parts = cose_parts(url)
    body = parts[2] if payload is None else cose.dumps_deterministic(payload)
    message = cose.sign1(body, key)  # type: ignore[arg-type]
    return qr_url(issuer, base64.urlsafe_b64encode(message).rstrip(b"=").decode("ascii"))


def payload_of(url: str) -> dict[int, object]:
    _, parts = cose_parts(url)
    return dict(cose.loads_deterministic(parts[2]))  # type: ignore[arg-type]


def unsigned(url: str, *, alg: object | None) -> str:
    """An "alg: none" code: the genuine kid and payload, no usable signature."""
    issuer, parts = cose_parts(url)
    header = cose.loads_deterministic(parts[0])  # type: ignore[arg-type]
    if alg is None:
        del header[cose.HEADER_ALG]
    else:
        header[cose.HEADER_ALG] = alg
    parts[0] = cose.dumps_deterministic(header)
    parts[3] = bytes(64)
    return cose_url(issuer, parts)


def hmac_with_public_key(url: str, public_key: ec.EllipticCurvePublicKey) -> str:
    """Key confusion: HS256 (COSE alg 5) keyed with the department's public key bytes."""
    issuer, parts = cose_parts(url)
    header = cose.loads_deterministic(parts[0])  # type: ignore[arg-type]
    header[cose.HEADER_ALG] = 5
    parts[0] = cose.dumps_deterministic(header)
    secret = public_key.public_bytes(serialization.Encoding.DER,
                                     serialization.PublicFormat.SubjectPublicKeyInfo)
    to_sign = cose.dumps_deterministic(["Signature1", parts[0], b"", parts[2]])
    mac = hmac.new(secret, to_sign, hashlib.sha256).digest()
    parts[3] = mac + mac  # 64 bytes, as an ES256 signature would be
    return cose_url(issuer, parts)


def kid_only_unprotected(url: str) -> str:
    """The kid moved to the unprotected header and the protected header emptied."""
    issuer, parts = cose_parts(url)
    header = cose.loads_deterministic(parts[0])  # type: ignore[arg-type]
    parts[0] = b""
    parts[1] = {cose.HEADER_KID: header[cose.HEADER_KID]}
    return cose_url(issuer, parts)


# -- images ---------------------------------------------------------------------------------------


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares ``width`` × ``height`` pixels."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr:ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)
