"""Chinese line breaking and the printed form of face values.

Line breaking follows the common rules for Simplified Chinese: a line may break
between any two CJK characters, Latin words stay whole unless a single word is
wider than the line (then it breaks per character), closing punctuation never
starts a line (it hangs past the margin instead) and opening punctuation never
ends one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation

from signing.errors import RenderError

# Characters that must not begin a line (行首禁则) and must not end one (行尾禁则).
NO_LINE_START = frozenset("，。、；：？！）》」』】〕〉｝］’”％‰…·～,.;:?!)]}%")
NO_LINE_END = frozenset("（《「『【〔〈｛［‘“([{")
# Ambiguous-width punctuation that behaves as a CJK unit in Chinese text.
_CJK_PUNCTUATION = frozenset("·—…‘’“”")

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_GROUP_UNITS = ("", "万", "亿")
# 壹万亿 and above would need compound group units; no licence amount comes close.
MAX_MONEY = Decimal(10) ** 12

Measure = Callable[[str], float]


def is_wide(char: str) -> bool:
    """True for characters laid out as single CJK units (ideographs, full-width forms)."""
    return unicodedata.east_asian_width(char) in ("W", "F") or char in _CJK_PUNCTUATION


def tokens(text: str) -> list[str]:
    """Split ``text`` into break units: whitespace runs, Latin words, single wide characters.

    >>> tokens("经营 ABC-12 软件")
    ['经', '营', ' ', 'ABC-12', ' ', '软', '件']
    """
    out: list[str] = []
    for match in re.finditer(r"\s+|\S", text):
        piece = match.group()
        joinable = not piece.isspace() and not is_wide(piece)
        if joinable and out and not out[-1].isspace() and not is_wide(out[-1][-1]):
            out[-1] += piece
        else:
            out.append(piece)
    return out


def wrap(text: str, width: float, measure: Measure) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` (closing punctuation may hang).

    Whitespace runs collapse to one space and vanish at line ends.

    >>> wrap("统一社会信用代码", 4, len)
    ['统一社会', '信用代码']
    >>> wrap("甲乙丙，丁", 3, len)
    ['甲乙丙，', '丁']
    >>> wrap("甲乙（丙丁", 3, len)
    ['甲乙', '（丙丁']
    >>> wrap("ab cdefgh", 4, len)
    ['ab', 'cdef', 'gh']
    """
    def fits(candidate: str) -> bool:
        return measure(candidate) <= width + 1e-6  # font metrics are floats

    lines: list[str] = []
    line = ""
    space = False
    for token in tokens(text):
        if token.isspace():
            space = bool(line)
            continue
        candidate = line + (" " if space else "") + token
        space = False
        if fits(candidate) or (line and token[0] in NO_LINE_START and len(token) == 1):
            line = candidate
            continue
        if line:
            carried = ""
            while line and line[-1] in NO_LINE_END:
                carried, line = line[-1] + carried, line[:-1]
            if line.strip():
                lines.append(line.rstrip())
            line = carried
            if fits(line + token):
                line += token
                continue
        for char in token:  # a single word wider than the line breaks per character
            if not line or fits(line + char) or char in NO_LINE_START:
                line += char
            else:
                lines.append(line)
                line = char
    if line.strip():
        lines.append(line.rstrip())
    return lines


def single_line(text: str) -> str:
    """Collapse every whitespace run, newlines included, to one space."""
    return " ".join(text.split())


def paragraphs(text: str) -> list[str]:
    """Split a multiline value into paragraphs, keeping deliberate blank lines."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [single_line(part) for part in lines]


def format_date(value: str | date) -> str:
    """Print an ISO date the way Chinese certificates do.

    >>> format_date("2023-05-08")
    '2023年05月08日'
    """
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise RenderError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None
    return f"{value.year:04d}年{value.month:02d}月{value.day:02d}日"


def parse_money(value: str) -> Decimal:
    """Read a yuan amount with at most two decimals ("1000000", "12.50")."""
    try:
        amount = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        raise RenderError(f"{value!r} is not an amount of money") from None
    if not amount.is_finite() or amount < 0 or amount >= MAX_MONEY:
        raise RenderError(f"{value!r} is out of range for an amount of money")
    if amount != amount.quantize(Decimal("0.01")):
        raise RenderError(f"{value!r} has fractions of a fen")
    return amount


def chinese_amount(amount: Decimal) -> str:
    """Write an amount in financial capitals (大写), as contracts and licences do.

    >>> chinese_amount(Decimal("10000000"))
    '壹仟万元整'
    >>> chinese_amount(Decimal("100000001.05"))
    '壹亿零壹元零伍分'
    >>> chinese_amount(Decimal("10010500.30"))
    '壹仟零壹万零伍佰元叁角整'
    >>> chinese_amount(Decimal("0.5"))
    '伍角整'
    """
    fen_total = int(amount * 100)
    yuan, rest = divmod(fen_total, 100)
    jiao, fen = divmod(rest, 10)
    out = _integer_capitals(yuan) + "元" if yuan else ""
    if jiao == 0 and fen == 0:
        return (out or "零元") + "整"
    if jiao:
        out += _DIGITS[jiao] + "角"
    elif out:
        out += "零"
    return out + (_DIGITS[fen] + "分" if fen else "整")


def _integer_capitals(number: int) -> str:
    digits = str(number)
    out: list[str] = []
    pending_zero = False
    for index, char in enumerate(digits):
        position = len(digits) - 1 - index
        if char == "0":
            pending_zero = True
        else:
            if pending_zero and out:
                out.append("零")
            pending_zero = False
            out.append(_DIGITS[int(char)] + _SMALL_UNITS[position % 4])
        if position % 4 == 0 and position and int(digits[max(0, index - 3) : index + 1]):
            out.append(_GROUP_UNITS[position // 4])
    return "".join(out)


def format_money(value: str) -> str:
    """Print a yuan amount in capitals followed by figures.

    >>> format_money("1000000")
    '人民币壹佰万元整（¥1,000,000.00）'
    """
    amount = parse_money(value)
    return f"人民币{chinese_amount(amount)}（¥{amount:,.2f}）"
