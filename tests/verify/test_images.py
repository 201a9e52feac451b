"""QR codes in photos and screenshots: real rendered pages, decoded by zxing-cpp."""

from __future__ import annotations

import io
import resource
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from tests.license_vault.helpers import rasterise
from tests.verify import forgeries
from tests.verify.conftest import FreshVerifier, Issued
from verify import Reason
from verify.errors import ImageError
from verify.images import MAX_IMAGE_PIXELS, decode_qr


@pytest.fixture(scope="module")
def page_png(genuine: Issued, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return rasterise(genuine.pdf, tmp_path_factory.mktemp("page"), dpi=150).read_bytes()


def as_photo(png: bytes) -> bytes:
    """The page as a phone photo: turned a little, softened, shrunk, saved as JPEG."""
    with Image.open(io.BytesIO(png)) as page:
        photo = page.convert("RGB").rotate(4, expand=True, fillcolor=(200, 200, 190))
    photo = photo.filter(ImageFilter.GaussianBlur(0.8)).resize(
        (photo.width * 3 // 4, photo.height * 3 // 4))
    out = io.BytesIO()
    photo.save(out, format="JPEG", quality=70)
    return out.getvalue()


def test_qr_in_a_rendered_page_is_found_and_verified(
        verifier: FreshVerifier, genuine: Issued, page_png: bytes) -> None:
    assert decode_qr(page_png) == genuine.qr_url
    verdict = verifier.verify_image(page_png)
    assert verdict.bottom_line is Reason.VALID
    assert verdict.identifier == genuine.identifier


def test_qr_in_a_phone_photo_is_verified(verifier: FreshVerifier, genuine: Issued,
                                         page_png: bytes) -> None:
    photo = as_photo(page_png)
    assert photo[:3] == b"\xff\xd8\xff"
    assert verifier.verify_image(photo).bottom_line is Reason.VALID


def test_painted_over_page_shows_the_vaults_data_not_the_files(
        verifier: FreshVerifier, genuine: Issued, tmp_path: Path) -> None:
    """The QR survives a paint-over, so the verdict must come from the vault."""
    forged_page = rasterise(forgeries.paint_over(genuine.pdf), tmp_path).read_bytes()
    verdict = verifier.verify_image(forged_page)
    assert verdict.bottom_line is Reason.VALID
    assert verdict.license is not None and verdict.license.source == "vault"
    assert dict(verdict.license.fields)["经营者名称"] == genuine.license.face["operator"]


def test_decompression_bomb_is_refused_before_decoding(verifier: FreshVerifier) -> None:
    bomb = forgeries.png_declaring(100_000, 100_000)
    assert len(bomb) < 100
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    with pytest.raises(ImageError, match="refused before decoding"):
        decode_qr(bomb)
    verdict = verifier.verify_image(bomb)

    assert verdict.bottom_line is Reason.MALFORMED
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024


def test_largest_allowed_declaration_is_just_under_the_bound() -> None:
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    with pytest.raises(ImageError, match="refused before decoding"):
        decode_qr(forgeries.png_declaring(side, side))


@pytest.mark.parametrize("data", [
    b"", b"not an image", b"\x89PNG\r\n\x1a\n\x00\x00truncated", b"GIF89a\x01",
], ids=["empty", "text", "truncated-png", "truncated-gif"])
def test_unreadable_images_are_malformed(verifier: FreshVerifier, data: bytes) -> None:
    assert verifier.verify_image(data).bottom_line is Reason.MALFORMED


def test_image_without_a_qr_code(verifier: FreshVerifier) -> None:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), (255, 255, 255)).save(out, format="PNG")
    verdict = verifier.verify_image(out.getvalue())
    assert verdict.bottom_line is Reason.MALFORMED
    assert "no QR code" in verdict.well_formed.detail


def test_qr_of_a_forged_code_in_an_image(verifier: FreshVerifier, genuine: Issued) -> None:
    import qrcode

    forged = forgeries.edit_payload(genuine.qr_url, 5, 20991231)
    out = io.BytesIO()
    qrcode.make(forged).save(out)
    assert verifier.verify_image(out.getvalue()).bottom_line is Reason.QR_SIGNATURE_INVALID


def _side_by_side(*texts: str) -> bytes:
    import qrcode

    codes = [qrcode.make(text).get_image().convert("L") for text in texts]
    sheet = Image.new("L", (sum(code.width for code in codes), max(c.height for c in codes)), 255)
    left = 0
    for code in codes:
        sheet.paste(code, (left, 0))
        left += code.width
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    return out.getvalue()


def test_a_genuine_code_beside_a_forged_one_is_refused(verifier: FreshVerifier,
                                                      genuine: Issued) -> None:
    # Whichever zxing-cpp reads first would otherwise decide the verdict.
    forged = forgeries.edit_payload(genuine.qr_url, 5, 20991231)
    for image in (_side_by_side(genuine.qr_url, forged), _side_by_side(forged, genuine.qr_url)):
        verdict = verifier.verify_image(image)
        assert verdict.bottom_line is Reason.MALFORMED
        assert "2 different verification codes" in verdict.well_formed.detail


def test_other_codes_beside_the_verification_code_are_ignored(verifier: FreshVerifier,
                                                             genuine: Issued) -> None:
    image = _side_by_side("https://example.com/menu", genuine.qr_url, genuine.qr_url)
    assert decode_qr(image) == genuine.qr_url
    assert verifier.verify_image(image).bottom_line is Reason.VALID


def test_an_animated_image_is_refused(verifier: FreshVerifier, genuine: Issued) -> None:
    # A second frame could hold a forged code beside the genuine one.
    import qrcode

    forged = forgeries.edit_payload(genuine.qr_url, 5, 20991231)
    frames = [qrcode.make(text).get_image().convert("L") for text in (genuine.qr_url, forged)]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=500)
    verdict = verifier.verify_image(out.getvalue())
    assert verdict.bottom_line is Reason.MALFORMED
    assert "animated" in verdict.well_formed.detail
