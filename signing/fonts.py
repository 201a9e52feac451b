"""Locate and register the CJK TrueType font printed on license faces.

reportlab embeds subsets of TrueType (``glyf``) fonts only; it refuses
CFF-outline fonts such as Noto Sans CJK, so the face font is WenQuanYi Zen Hei
(Debian package ``fonts-wqy-zenhei``). Parsing the 16 MB collection takes about
150 ms, so the font is registered once per process and shared by every render.

reportlab subsets the font for every document, and its subsetter asks for
whole font tables each time: for this collection that copied the 10 MB
``glyf`` table per document (~0.7 ms) to take a few kilobytes of glyphs out
of it. The registered face therefore serves its tables from the parsed file
without copying: ``glyf`` as a view that copies only the slices asked for,
the small tables as bytes kept after first use.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

from signing.errors import FontNotFoundError

FONT_NAME = "WenQuanYiZenHei"
FONT_FAMILY = "WenQuanYi Zen Hei"
DEBIAN_PACKAGE = "fonts-wqy-zenhei"
DEFAULT_FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
# Face 0 of the collection is "WenQuanYi Zen Hei" (1 is the monospaced variant).
FONT_FACE_INDEX = 0

_lock = threading.Lock()
_font: TTFont | None = None


def find_cjk_font() -> Path:
    """Return the path of the WenQuanYi Zen Hei collection.

    The Debian location is tried first; fontconfig is asked only when the file
    is elsewhere, and its answer is accepted only if it really is that family
    (fc-match otherwise returns its nearest substitute, e.g. DejaVu Sans).
    """
    if DEFAULT_FONT_PATH.is_file():
        return DEFAULT_FONT_PATH
    found = _ask_fontconfig()
    if found is not None:
        return found
    raise FontNotFoundError(
        f"the CJK font {FONT_FAMILY!r} is not installed (looked at {DEFAULT_FONT_PATH} "
        f"and asked fontconfig); install the Debian package {DEBIAN_PACKAGE}"
    )


def _ask_fontconfig() -> Path | None:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        result = subprocess.run(
            [fc_match, "-f", "%{family}\t%{file}", FONT_FAMILY],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    family, _, file = result.stdout.partition("\t")
    if result.returncode != 0 or FONT_FAMILY not in family.split(","):
        return None
    path = Path(file.strip())
    return path if path.is_file() else None


def cjk_font() -> TTFont:
    """Return the registered face font, registering it on first use (thread-safe)."""
    global _font
    if _font is not None:
        return _font
    with _lock:
        if _font is None:
            path = find_cjk_font()
            try:
                font = TTFont(FONT_NAME, str(path), subfontIndex=FONT_FACE_INDEX)
            except (TTFError, OSError) as exc:
                raise FontNotFoundError(
                    f"{path} is not a usable TrueType font ({exc}); "
                    f"install the Debian package {DEBIAN_PACKAGE}"
                ) from exc
            _serve_tables_without_copying(font.face)
            pdfmetrics.registerFont(font)
            _font = font
    return _font


class _TableSlices:
    """A font table that hands out copies of the slices asked for, never of itself."""

    __slots__ = ("_view",)

    def __init__(self, view: memoryview) -> None:
        self._view = view

    def __getitem__(self, index: slice) -> bytes:
        return self._view[index].tobytes()

    def __len__(self) -> int:
        return len(self._view)


# Tables reportlab's subsetter only slices (``TTFontFile.makeSubset`` reads glyph
# records out of ``glyf``); the others it copies into the subset whole.
_SLICED_TABLES = frozenset({"glyf"})


def _serve_tables_without_copying(face: Any) -> None:
    data = memoryview(face._ttf_data)
    read_table: Callable[[str], bytes] = face.get_table
    kept: dict[str, bytes] = {}

    def get_table(tag: str) -> bytes | _TableSlices:
        if tag in _SLICED_TABLES:
            position, length = face.get_table_pos(tag)
            return _TableSlices(data[position:position + length])
        table = kept.get(tag)
        if table is None:
            table = kept[tag] = read_table(tag)
        return table

    face.get_table = get_table


def register_cjk_font() -> str:
    """Register the face font with reportlab once per process and return its name."""
    return cjk_font().fontName


def has_glyph(char: str) -> bool:
    """True when the face font can print ``char`` (rather than an empty box)."""
    return ord(char) in cjk_font().face.charToGlyph
