"""The QR symbol printed on a license: matrix and version at error-correction level M.

Level M (15 % recovery) is the usual trade-off for printed codes that may be
scuffed; the payload is sized so the symbol stays at version 15 or below.
"""

from __future__ import annotations

from dataclasses import dataclass

import qrcode
import qrcode.exceptions
from qrcode.constants import ERROR_CORRECT_M

from signing.errors import RenderError

# Above this the modules of a ~34 mm printed code become too small to scan reliably.
MAX_PRINTABLE_VERSION = 20


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
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, box_size=1)
    code.add_data(text)
    try:
        code.make(fit=True)
    except qrcode.exceptions.DataOverflowError:
        raise RenderError(f"{len(text)} characters do not fit in any QR code") from None
    assert code.version is not None
    matrix = code.get_matrix()
    return QrSymbol(code.version, tuple(tuple(bool(cell) for cell in row) for row in matrix))


def qr_version(text: str) -> int:
    """Smallest QR version holding ``text`` at level M (1 to 40)."""
    return qr_symbol(text).version
