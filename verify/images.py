"""The QR code in a photo or screenshot, decoded without trusting the image.

An image file says how large it is before its pixels are decoded, and a
small file can declare a huge image (a decompression bomb). The declared
size is checked first, so such a file is refused after reading its header
only; Pillow's own limit is lowered to the same bound as a second guard.
Large photos are decoded reduced (JPEG draft mode) and scaled down before
zxing-cpp looks for QR codes.
"""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, UnidentifiedImageError

from signing.errors import PayloadError
from signing.payload import parse_qr_url
from verify.errors import ImageError

__all__ = ["FORMATS", "MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "decode_qr", "looks_like_image"]

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
# A 48-megapixel phone photo is the largest honest input; a license QR code
# needs far less. 50 MP of RGB is 150 MB decoded, the most we accept to spend.
MAX_IMAGE_PIXELS = 50_000_000
MAX_IMAGE_BYTES = 30 * 1024 * 1024
# zxing-cpp finds a printed license QR code well below this; larger costs time only.
DECODE_SIDE = 2400
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")


def looks_like_image(data: bytes) -> bool:
    return data.startswith(_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


def decode_qr(data: bytes) -> str:
    """The text of the QR code in the image; :class:`ImageError` if there is none or it is unsafe.

    Other QR codes beside a verification code are ignored; two different
    verification codes are refused, as a forged code could sit beside a
    genuine one and the verdict would depend on which zxing-cpp read first.
    """
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise ImageError("no image data")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"the image is larger than {MAX_IMAGE_BYTES} bytes")
    _bound_pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(bytes(data)), formats=FORMATS) as image:
                width, height = image.size  # from the header: nothing decoded yet
                if width <= 0 or height <= 0 or width * height > MAX_IMAGE_PIXELS:
                    raise ImageError(f"the image declares {width}×{height} pixels, more than "
                                     f"{MAX_IMAGE_PIXELS} (refused before decoding)")
                # Only one frame is read: another could hold another code.
                if getattr(image, "is_animated", False):
                    raise ImageError("the image is animated: send one photo or screenshot")
                if image.format == "JPEG":
                    image.draft("L", (DECODE_SIDE, DECODE_SIDE))
                image.seek(0)
                gray = image.convert("L")
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow read the same declaration from the header and refused first.
        raise ImageError(f"the image declares more than {MAX_IMAGE_PIXELS} pixels "
                         "(refused before decoding)") from None
    except UnidentifiedImageError:
        raise ImageError("not an image of a supported kind") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageError(f"the image cannot be decoded: {exc}") from None
    if max(gray.size) > DECODE_SIDE:
        gray.thumbnail((DECODE_SIDE, DECODE_SIDE))
    found = zxingcpp.read_barcodes(
        gray, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    texts = [result.text for result in found if result.text]
    if not texts:
        raise ImageError("no QR code found in the image")
    codes = list(dict.fromkeys(text for text in texts if _is_verification_url(text)))
    if len(codes) > 1:
        raise ImageError(f"the image holds {len(codes)} different verification codes: "
                         "show one license at a time")
    return codes[0] if codes else texts[0]


def _is_verification_url(text: str) -> bool:
    try:
        parse_qr_url(text)
    except PayloadError:
        return False
    return True


def _bound_pillow() -> None:
    # Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that.
    current = Image.MAX_IMAGE_PIXELS
    if current is None or current > MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
