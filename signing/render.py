"""Render a license face as a one-page A4 PDF with its verification QR code.

The page imitates a printed Chinese certificate: a double frame, a large
letter-spaced title, label/value rows with justified labels, the issuing
department and date at the bottom right where the seal goes, the GB/T 36904
identifier in small type and the QR code in the top-right corner.

Only the subsetted CJK TrueType font is used, so the file carries no
non-embedded font. The output is byte-for-byte deterministic: reportlab runs in
invariant mode and the PDF dates are the issue date.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Literal, NamedTuple, cast, get_args

from reportlab import rl_config
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from signing import text as cjk
from signing.errors import RenderError
from signing.fonts import FONT_NAME, has_glyph, register_cjk_font
from signing.qrsymbol import MAX_PRINTABLE_VERSION, QrSymbol, qr_symbol

RowKind = Literal["text", "date", "money", "enumeration", "multiline"]
ROW_KINDS: frozenset[str] = frozenset(get_args(RowKind))
PERMANENT = "长期"

PAGE_WIDTH, PAGE_HEIGHT = A4
FRAME_COLOUR = (0.62, 0.13, 0.12)
INK = (0.08, 0.08, 0.08)
FRAME_OUTER_INSET = 26.0
FRAME_INNER_INSET = 33.0
CONTENT_LEFT = 70.0
CONTENT_RIGHT = PAGE_WIDTH - 70.0
QR_SIZE = 104.0  # ~0.38 mm modules at version 20, still easy for phone cameras
QR_RIGHT = PAGE_WIDTH - 58.0
QR_TOP = PAGE_HEIGHT - 58.0
TITLE_BASELINE = PAGE_HEIGHT - 128.0
ROWS_TOP = PAGE_HEIGHT - 222.0
ROWS_BOTTOM = 196.0
SEAL_AXIS = PAGE_WIDTH - 172.0
# Row font sizes tried in turn until the face fits between ROWS_TOP and ROWS_BOTTOM.
ROW_SIZES = (13.0, 12.0, 11.0, 10.5, 10.0, 9.0, 8.0)
MULTILINE_SCALE = 0.92


class FaceRow(NamedTuple):
    """One printed row: Chinese label, value as stored in the face data, kind of value."""

    label: str
    value: str
    kind: RowKind = "text"


@dataclass(frozen=True)
class LicenseFace:
    """Everything printed on a license page (照面).

    The vault validates face data against the license type's schema; the
    checks here are only those rendering needs, raised as :class:`RenderError`.

    ``rows`` values are strings as in the face data: dates as ISO ``YYYY-MM-DD``,
    money as a yuan amount with at most two decimals, multiline text with
    ``\\n`` between paragraphs. ``valid_until`` None means permanent (长期).
    """

    title: str
    license_number: str
    holder_name: str
    rows: Sequence[FaceRow | tuple[str, str, str]]
    issuing_department: str
    issue_date: date
    valid_from: date
    valid_until: date | None
    identifier: str
    qr_url: str
    holder_label: str = "持证主体"
    validity_label: str = "有效期限"

    def __post_init__(self) -> None:
        if isinstance(self.rows, str | bytes) or not isinstance(self.rows, Sequence):
            raise RenderError("rows must be a sequence of (label, value, kind)")
        object.__setattr__(self, "rows", tuple(_face_row(row) for row in self.rows))
        for name in ("title", "license_number", "holder_name", "issuing_department",
                     "identifier", "qr_url", "holder_label", "validity_label"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise RenderError(f"{name} must be a non-empty string")
        for name in ("issue_date", "valid_from"):
            _require_date(name, getattr(self, name))
        if self.valid_until is not None:
            _require_date("valid_until", self.valid_until)
            if self.valid_until < self.valid_from:
                raise RenderError("valid_until is before valid_from")

    @property
    def face_rows(self) -> tuple[FaceRow, ...]:
        """The rows as :class:`FaceRow` values (plain tuples are converted on construction)."""
        return self.rows  # type: ignore[return-value]

    @property
    def validity_text(self) -> str:
        until = PERMANENT if self.valid_until is None else cjk.format_date(self.valid_until)
        return f"{cjk.format_date(self.valid_from)}至{until}"


def _face_row(row: FaceRow | tuple[str, str, str]) -> FaceRow:
    if not isinstance(row, tuple) or len(row) != 3:
        raise RenderError(f"a row is (label, value, kind), got {row!r}")
    label, value, kind = row
    if not isinstance(label, str) or not label.strip():
        raise RenderError(f"row label must be a non-empty string, got {label!r}")
    if not isinstance(value, str):
        raise RenderError(f"value of row {label!r} must be a string")
    if kind not in ROW_KINDS:
        raise RenderError(f"row {label!r} has kind {kind!r}; expected one of {sorted(ROW_KINDS)}")
    return FaceRow(label, value, cast(RowKind, kind))


def _require_date(name: str, value: object) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise RenderError(f"{name} must be a datetime.date")


def render_license(face: LicenseFace) -> bytes:
    """Render ``face`` as a deterministic one-page A4 PDF and return its bytes."""
    register_cjk_font()
    rows = [FaceRow(face.holder_label, face.holder_name, "text"), *face.face_rows,
            FaceRow(face.validity_label, face.validity_text, "text")]
    printed = [(row.label, _printed_value(row)) for row in rows]
    _require_glyphs(face, printed)
    layout = _fit_rows(printed, [row.kind for row in rows])
    symbol = qr_symbol(face.qr_url)
    if symbol.version > MAX_PRINTABLE_VERSION:
        raise RenderError(
            f"the QR URL needs version {symbol.version}; at most {MAX_PRINTABLE_VERSION} "
            "stays scannable at the printed size"
        )

    # The page stream is Flate only: ASCII85 on top makes it a quarter larger and
    # costs every reader a pure-Python decode. reportlab reads this process-wide
    # setting when it writes a page; nothing else here uses reportlab.
    rl_config.useA85 = 0
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1, initialFontName=FONT_NAME,
                    initialFontSize=12, lang="zh-CN", pageCompression=1)
    pdf_date = f"D:{face.issue_date:%Y%m%d}000000+08'00'"
    canvas.setDateFormatter(lambda *_: pdf_date)
    canvas.setTitle(f"{face.title} {face.license_number}")
    canvas.setAuthor(face.issuing_department)
    canvas.setSubject(face.identifier)
    canvas.setCreator("Yiwang")
    canvas.setFont(FONT_NAME, 12)  # before anything else, so Helvetica is never referenced

    _draw_frame(canvas)
    _draw_qr(canvas, symbol)
    _draw_heading(canvas, face)
    _draw_rows(canvas, layout)
    _draw_issuer(canvas, face)
    _draw_footer(canvas, face)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _printed_value(row: FaceRow) -> str:
    try:
        if row.kind == "date":
            return cjk.format_date(row.value)
        if row.kind == "money":
            return cjk.format_money(row.value)
    except RenderError as exc:
        raise RenderError(f"row {row.label!r}: {exc}") from None
    if row.kind == "multiline":
        return row.value
    return cjk.single_line(row.value)


def _require_glyphs(face: LicenseFace, printed: Iterable[tuple[str, str]]) -> None:
    """Refuse characters the font lacks: they would print as empty boxes (生僻字)."""
    texts = [face.title, face.license_number, face.issuing_department, face.identifier,
             "编号：证照标识扫码核验", *(part for pair in printed for part in pair)]
    for piece in texts:
        for char in piece:
            if not char.isspace() and not has_glyph(char):
                raise RenderError(
                    f"the face font has no glyph for U+{ord(char):04X} ({char!r}) in {piece!r}"
                )


# ---------------------------------------------------------------------------
# Row layout


@dataclass(frozen=True)
class _Line:
    x: float
    y: float
    text: str
    size: float
    char_space: float = 0.0


def _width(text: str, size: float) -> float:
    return stringWidth(text, FONT_NAME, size)


def _fit_rows(printed: Sequence[tuple[str, str]], kinds: Sequence[str]) -> list[_Line]:
    for size in ROW_SIZES:
        lines = _layout_rows(printed, kinds, size)
        if lines is not None:
            return lines
    raise RenderError("the face does not fit on one A4 page even at the smallest type size")


def _layout_rows(
    printed: Sequence[tuple[str, str]], kinds: Sequence[str], size: float
) -> list[_Line] | None:
    label_width = min(max(4 * size, *(_width(label, size) for label, _ in printed)), 8 * size)
    label_x = CONTENT_LEFT + 10.0
    value_x = label_x + label_width + 1.4 * size
    value_width = CONTENT_RIGHT - value_x
    leading = 1.6 * size
    row_gap = 0.6 * size
    lines: list[_Line] = []
    top = ROWS_TOP
    for (label, value), kind in zip(printed, kinds, strict=True):
        value_size = size * MULTILINE_SCALE if kind == "multiline" else size
        value_leading = 1.55 * value_size
        measure = partial(_width, size=value_size)
        if kind == "multiline":
            value_lines = [
                line
                for paragraph in cjk.paragraphs(value)
                for line in (cjk.wrap(paragraph, value_width, measure) or [""])
            ]
        else:
            value_lines = cjk.wrap(value, value_width, measure) or [""]
        label_lines = cjk.wrap(label, label_width, partial(_width, size=size))
        baseline = top - size
        lines.extend(_label_lines(label_lines, label_x, baseline, label_width, size, leading))
        for index, line in enumerate(value_lines):
            if line:
                lines.append(_Line(value_x, baseline - index * value_leading, line, value_size))
        height = max(len(label_lines) * leading, (len(value_lines) - 1) * value_leading + leading)
        top -= height + row_gap
        if top + row_gap < ROWS_BOTTOM:
            return None
    return lines


def _label_lines(
    label_lines: list[str], x: float, baseline: float, width: float, size: float, leading: float
) -> list[_Line]:
    """Justify a one-line all-CJK label across the label column (名　　称), as certificates do."""
    if len(label_lines) == 1:
        label = label_lines[0]
        if len(label) > 1 and all(cjk.is_wide(char) for char in label):
            spare = width - _width(label, size)
            return [_Line(x, baseline, label, size, max(spare, 0.0) / (len(label) - 1))]
    return [_Line(x, baseline - i * leading, line, size) for i, line in enumerate(label_lines)]


def _draw_rows(canvas: Canvas, lines: Iterable[_Line]) -> None:
    canvas.setFillColorRGB(*INK)
    for line in lines:
        canvas.setFont(FONT_NAME, line.size)
        canvas.drawString(line.x, line.y, line.text, charSpace=line.char_space)


# ---------------------------------------------------------------------------
# Fixed parts of the page


def _draw_frame(canvas: Canvas) -> None:
    canvas.setStrokeColorRGB(*FRAME_COLOUR)
    for inset, line_width in ((FRAME_OUTER_INSET, 2.6), (FRAME_INNER_INSET, 0.8)):
        canvas.setLineWidth(line_width)
        canvas.rect(inset, inset, PAGE_WIDTH - 2 * inset, PAGE_HEIGHT - 2 * inset)
    # Small corner squares between the two lines, a common certificate ornament.
    canvas.setFillColorRGB(*FRAME_COLOUR)
    middle = (FRAME_OUTER_INSET + FRAME_INNER_INSET) / 2
    for cx in (middle, PAGE_WIDTH - middle):
        for cy in (middle, PAGE_HEIGHT - middle):
            canvas.rect(cx - 2.2, cy - 2.2, 4.4, 4.4, stroke=0, fill=1)


def _draw_qr(canvas: Canvas, symbol: QrSymbol) -> None:
    """Draw the symbol as one filled vector path, a rectangle per run of dark modules.

    The path is written in module units under a scaling transform, as literal
    operators: reportlab's path API formats every coordinate in Python and
    costs ~8 ms for the ~2000 runs of a version-18 symbol, this ~0.5 ms. One
    fill for all runs leaves no anti-aliasing seams between neighbours.
    """
    module = QR_SIZE / symbol.size
    canvas.saveState()
    canvas.transform(module, 0, 0, -module, QR_RIGHT - QR_SIZE, QR_TOP)
    canvas.setFillColorRGB(0, 0, 0)
    runs = " ".join(f"{column} {row} {length} 1 re" for row, column, length in symbol.dark_runs())
    canvas.addLiteral(f"{runs} f")
    canvas.restoreState()
    canvas.setFillColorRGB(*INK)
    canvas.setFont(FONT_NAME, 9)
    canvas.drawCentredString(QR_RIGHT - QR_SIZE / 2, QR_TOP - QR_SIZE - 13, "扫码核验",
                             charSpace=1.5)


def _draw_heading(canvas: Canvas, face: LicenseFace) -> None:
    # The title must clear the QR code on the right, and stay centred on the page.
    room = 2 * (QR_RIGHT - QR_SIZE - 14.0 - PAGE_WIDTH / 2)
    size = 34.0
    spacing = size * (0.5 if len(face.title) <= 4 else 0.2 if len(face.title) <= 8 else 0.0)

    def width() -> float:
        return _width(face.title, size) + spacing * (len(face.title) - 1)

    while width() > room and size > 14:
        size -= 1
        spacing *= 0.9
    if width() > room:
        raise RenderError(f"the title {face.title!r} is too long to print")
    canvas.setFillColorRGB(*INK)
    canvas.setFont(FONT_NAME, size)
    canvas.drawCentredString(PAGE_WIDTH / 2, TITLE_BASELINE, face.title, charSpace=spacing)
    number = f"编号：{face.license_number}"
    number_size = 12.0
    while _width(number, number_size) > room and number_size > 7:
        number_size -= 0.5
    if _width(number, number_size) > room:
        raise RenderError(f"the license number {face.license_number!r} is too long to print")
    canvas.setFont(FONT_NAME, number_size)
    canvas.drawCentredString(PAGE_WIDTH / 2, TITLE_BASELINE - 38, number)
    canvas.setStrokeColorRGB(*FRAME_COLOUR)
    canvas.setLineWidth(0.6)
    canvas.line(CONTENT_LEFT, ROWS_TOP + 18, CONTENT_RIGHT, ROWS_TOP + 18)


def _draw_issuer(canvas: Canvas, face: LicenseFace) -> None:
    """Department and issue date centred on one axis at the bottom right, where the seal goes."""
    size = 14.0
    names = cjk.wrap(face.issuing_department, 2 * (PAGE_WIDTH - 60.0 - SEAL_AXIS),
                     lambda t: _width(t, size))
    if len(names) > 3:
        raise RenderError("the issuing department name is too long to print")
    canvas.setFillColorRGB(*INK)
    canvas.setFont(FONT_NAME, size)
    y = 150.0 + (len(names) - 1) * 1.4 * size
    for name in names:
        canvas.drawCentredString(SEAL_AXIS, y, name)
        y -= 1.4 * size
    canvas.drawCentredString(SEAL_AXIS, y - 4, cjk.format_date(face.issue_date))


def _draw_footer(canvas: Canvas, face: LicenseFace) -> None:
    canvas.setStrokeColorRGB(*FRAME_COLOUR)
    canvas.setLineWidth(0.4)
    canvas.line(CONTENT_LEFT, 84, CONTENT_RIGHT, 84)
    canvas.setFillColorRGB(0.3, 0.3, 0.3)
    size = 8.0
    line = f"证照标识：{face.identifier}"
    while _width(line, size) > CONTENT_RIGHT - CONTENT_LEFT and size > 5:
        size -= 0.5
    canvas.setFont(FONT_NAME, size)
    canvas.drawCentredString(PAGE_WIDTH / 2, 68, line)
