"""Printable text: the one rule for every text the vault prints on a face or publishes.

Face field values, the names, labels and options of license types, department
names and status reasons all end up in front of people: on the PDF, in the
API, on the verifier's page. A character that shows nothing, or something
else than it is, has no place there:

* line and paragraph separators (Zl, Zp) and control characters (Cc): a
  one-line text has none (a multiline face field keeps its ``\\n``);
* format characters (Cf): zero-width spaces and joiners, byte order marks,
  bidirectional overrides that print 司公限有 for 有限公司;
* lone surrogates (Cs), private-use (Co) and unassigned (Cn) code points;
* the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0: letters by category,
  yet blank, so a name made of them looks empty;
* on a face, any character the face font cannot draw: it would print as an
  empty box (rare characters, 生僻字, emoji), so the license must be refused
  before a printed number is taken for it.
"""

from __future__ import annotations

import unicodedata
from types import MappingProxyType

from signing.fonts import has_glyph

__all__ = ["INVISIBLE_FILLERS", "REFUSED_CATEGORIES", "unprintable"]

REFUSED_CATEGORIES = MappingProxyType({
    "Zl": "the line separator",
    "Zp": "the paragraph separator",
    "Cc": "the control character",
    "Cf": "the invisible format character",
    "Cs": "the lone surrogate",
    "Co": "the private-use character",
    "Cn": "the unassigned code point",
})
INVISIBLE_FILLERS = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0"})
LINE_BREAKS = frozenset({"\n", "\r"})


def unprintable(text: str, *, on_face: bool, multiline: bool = False) -> str | None:
    """What in ``text`` may not be shown, in words, or None when all of it may.

    ``on_face``: the text is printed on the PDF, so the face font must draw
    it; ``multiline``: ``\\n`` separates lines (face fields of type multiline).

    >>> unprintable("福州市鼓楼区五四路158号", on_face=True) is None
    True
    >>> unprintable("审计\\u2028第二行", on_face=False)
    'the line separator U+2028'
    >>> unprintable("审\\u3164计", on_face=False)
    'the invisible filler U+3164 (HANGUL FILLER)'
    >>> unprintable("名\\u202e称", on_face=False)
    'the invisible format character U+202E (RIGHT-TO-LEFT OVERRIDE)'
    >>> unprintable("第一行\\n第二行", on_face=True, multiline=True) is None
    True
    >>> unprintable("第一行\\n第二行", on_face=True)
    'a line break (U+000A): it is one line'
    >>> unprintable("示例\\U0002a6a5公司", on_face=True)
    "'𪚥' (U+2A6A5), which the face font cannot print"
    """
    for char in text:
        if char in LINE_BREAKS:
            if multiline and char == "\n":
                continue
            return f"a line break (U+{ord(char):04X}): it is one line"
        category = unicodedata.category(char)
        if category in REFUSED_CATEGORIES:
            named = category == "Cf"  # which one of many invisible characters it is
            return f"{REFUSED_CATEGORIES[category]} {_code_point(char, named=named)}"
        if char in INVISIBLE_FILLERS:
            return f"the invisible filler {_code_point(char, named=True)}"
        if on_face and not char.isspace() and not has_glyph(char):
            return f"{char!r} (U+{ord(char):04X}), which the face font cannot print"
    return None


def _code_point(char: str, *, named: bool) -> str:
    name = unicodedata.name(char, "") if named else ""
    return f"U+{ord(char):04X} ({name})" if name else f"U+{ord(char):04X}"
