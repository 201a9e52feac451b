"""The QR symbol printed on a license: matrix and version at error-correction level M.

Level M (15 % recovery) is the usual trade-off for printed codes that may be
scuffed; the payload is sized so the symbol stays at version 15 or below.

The matrix comes from zxing-cpp's encoder (C++, already a dependency for
decoding): about 1 ms per symbol, where the pure-Python ``qrcode`` package
took 20-30 ms, most of an issuance's rendering time. Both choose the same
(smallest) version for the URLs we print.
"""

from __future__ import annotations

from dataclasses import dataclass

import zxingcpp

from signing.errors import RenderError

# Above this the modules of a ~34 mm printed code become too small to scan reliably.
MAX_PRINTABLE_VERSION = 20
EC_LEVEL = "M"


@dataclass(frozen=True)
class QrSymbol:
    """A QR code as rows of dark (True) and light (False) modules, without quiet zone."""

    version: int
    modules: tuple[tuple[bool, ...], ...]

    @property
    def size(self) -> int:
        return len(self.modules)

    def dark_runs(self) -> list[tuple[int, int, int]]:
        """Horizontal runs of dark modules as (row, first column, length), top row first."""
        runs: list[tuple[int, int, int]] = []
        for row, cells in enumerate(self.modules):
            start: int | None = None
            for column, dark in enumerate((*cells, False)):
                if dark and start is None:
                    start = column
                elif not dark and start is not None:
                    runs.append((row, start, column - start))
                    start = None
        return runs


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
    pixels = image.tobytes()
    # The image is 8-bit grey: 0 is a dark module, 255 a light one.
    modules = tuple(tuple(pixel < 128 for pixel in pixels[row * size:(row + 1) * size])
                    for row in range(size))
    return QrSymbol((size - 17) // 4, modules)


def qr_version(text: str) -> int:
    """Smallest QR version holding ``text`` at level M (1 to 40)."""
    return qr_symbol(text).version
