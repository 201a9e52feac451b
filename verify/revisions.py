"""What follows a license's signed revision, beyond pyHanko's difference analysis.

Two gaps that analysis leaves, both found by building the attacks:

* pyHanko reads a file from the last ``%%EOF`` in its final kilobyte, while
  poppler follows the last ``startxref`` whether or not an ``%%EOF`` follows
  it. An update appended without ``%%EOF`` is rendered by one and unseen by
  the other, so anything but whitespace after the last ``%%EOF`` counts as a
  change.
* pyHanko's policy lets a later revision rewrite the document information
  and XMP metadata freely (a title reading "valid until 2099" in the
  viewer's title bar). The vault's long-term-validation updates, written by
  pyHanko, change only the modification dates and the producer.

Objects are read through each revision's own resolver: the reader's plain
dereferencing always answers from the newest revision.
"""

from __future__ import annotations

import re
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader

__all__ = ["bytes_after_last_eof", "document_info", "metadata_changes"]

_EOF = b"%%EOF"
_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
# What pyHanko itself rewrites in every incremental update it writes.
_INFO_KEPT_UP_TO_DATE = frozenset({"/ModDate", "/Producer"})
_XMP_KEPT_UP_TO_DATE = re.compile(
    rb'((?:xmp:ModifyDate|xmp:MetadataDate|pdf:Producer|x:xmptk)\s*=\s*)"[^"]*"'
    rb"|(<(xmp:ModifyDate|xmp:MetadataDate|pdf:Producer)>)[^<]*(</\3>)")


def bytes_after_last_eof(data: bytes) -> int:
    """How many bytes, whitespace aside, follow the file's last ``%%EOF`` marker."""
    end = data.rfind(_EOF)
    if end < 0:
        return len(data)
    return len(data[end + len(_EOF):].strip(_PDF_WHITESPACE))


def document_info(reader: PdfFileReader, revision: int) -> dict[str, Any]:
    """The document information dictionary as it was in ``revision`` (empty if none)."""
    resolver = reader.get_historical_resolver(revision)
    info = _entry(resolver, resolver.trailer_view, "/Info")
    if not isinstance(info, generic.DictionaryObject):
        return {}
    return {key: _entry(resolver, info, key) for key in info}


def metadata_changes(reader: PdfFileReader, signed_revision: int) -> list[str]:
    """The metadata the newest revision changed since ``signed_revision``, dates aside."""
    newest = reader.xrefs.total_revisions - 1
    if signed_revision >= newest:
        return []
    before, after = document_info(reader, signed_revision), document_info(reader, newest)
    changed = sorted(key.lstrip("/") for key in before.keys() | after.keys()
                     if key not in _INFO_KEPT_UP_TO_DATE and before.get(key) != after.get(key))
    if _xmp(reader, signed_revision) != _xmp(reader, newest):
        changed.append("XMP metadata")
    return changed


def _xmp(reader: PdfFileReader, revision: int) -> bytes | None:
    resolver = reader.get_historical_resolver(revision)
    stream = _entry(resolver, resolver.root, "/Metadata")
    if not isinstance(stream, generic.StreamObject):
        return None
    return _XMP_KEPT_UP_TO_DATE.sub(rb"\1\2\4", stream.data)


def _entry(resolver: HistoricalResolver, dictionary: Any, key: str) -> Any:
    """``dictionary[key]`` as of the resolver's revision; None when absent."""
    if key not in dictionary:
        return None
    value = dictionary.raw_get(key)
    if isinstance(value, generic.IndirectObject):
        return resolver(value.reference)
    return value
