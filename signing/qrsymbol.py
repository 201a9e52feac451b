"""The QR symbol printed on a license: matrix and version at error-correction level M.

Level M (15 % recovery) is the usual trade-off for printed codes that may be
scuffed; the payload is sized so the symbol stays at version 15 or below.

The matrix comes from zxing-cpp's encoder (C++, already a dependency for
decoding): about 1 ms per symbol, where the pure-Python ``qrcode`` package
took 20-30 ms, most of an issuance's rendering time. Both choose the same
(smallest) version for the URLs we print. The symbol keeps the encoder's
pixel rows as bytes; the runs of dark modules drawn on the page are found by
a regular expression over each row (~0.2 ms for a version-15 symbol).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import zxingcpp

from signing.errors import RenderError

# Above this the modules of a ~34 mm printed code become too small to scan reliably.
MAX_PRINTABLE_VERSION = 20
EC_LEVEL = "M"
DARK = 0  # zxing-cpp's image is 8-bit grey: 0 is a dark module, 255 a light one
_DARK_RUN = re.compile(bytes([DARK]) + b"+")
# zxing-cpp writes 0 and 255 only; should it ever write grey, below half is dark.
_BLACK_OR_WHITE = bytes(DARK if value < 128 else 255 for value in range(256))


@dataclass(frozen=True)
class QrSymbol:
    """A QR code as ``size`` rows of ``size`` module bytes (0 dark), without quiet zone."""

    version: int
    size: int
    pixels: bytes

    def dark_runs(self) -> list[tuple[int, int, int]]:
        """Horizontal runs of dark modules as (row, first column, length), top row first."""
        return [(row, match.start(), match.end() - match.start())
                for row in range(self.size) for match in _DARK_RUN.finditer(self._row(row))]

    def _row(self, row: int) -> bytes:
        return self.pixels[row * self.size:(row + 1) * self.size]


def qr_symbol(text: str) -> QrSymbol:
    """Encode ``text`` at level M in the smallest version that holds it."""
    try:
        barcode = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode,
                                          ec_level=EC_LEVEL)
        # zxingcpp.Image has the buffer protocol, which its stubs do not declare.
        image = memoryview(barcode.to_image(scale=1, add_quiet_zones=False))  # type: ignore[arg-type]
    except (ValueError, RuntimeError) as exc:
        raise RenderError(f"{len(text)} characters do not fit in any QR code ({exc})") from None
    size, width = image.shape or (0, 0)
    if size != width or (size - 17) % 4 or not 21 <= size <= 177:
        raise RenderError(f"the QR encoder returned a {size}x{width} matrix")
    return QrSymbol((size - 17) // 4, size, image.tobytes().translate(_BLACK_OR_WHITE))


def qr_version(text: str) -> int:
    """Smallest QR version holding ``text`` at level M (1 to 40)."""
    return qr_symbol(text).version
