"""Decompression bombs in PDF files, found before any parser inflates a stream.

pyHanko inflates a file's object and cross-reference streams to read it, with
no bound, and a 20 MB upload of Flate data can declare gigabytes. Before the
file is parsed, every stream is decoded here within a budget — through the
filters that can be chained in front of Flate (ASCII85, ASCIIHex, Flate
itself), layer by layer — and a file whose streams inflate beyond it is
refused. A license's own streams (a font subset, the page, the QR image)
inflate to a few hundred kilobytes; the check costs under a millisecond.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

__all__ = ["MAX_STREAM_BYTES", "MAX_TOTAL_BYTES", "inflates_too_much"]

MAX_STREAM_BYTES = 16 * 1024 * 1024
MAX_TOTAL_BYTES = 64 * 1024 * 1024
_MAX_LAYERS = 4
_A85_START = re.compile(rb"[\s!-uz]{16}")
_HEX_START = re.compile(rb"[\s0-9A-Fa-f]{16}")


def inflates_too_much(data: bytes) -> bool:
    """True if some stream, or all together, decode to more than the budget."""
    total = 0
    for start in _stream_starts(data):
        size = _decoded_size(data, start, _MAX_LAYERS)
        if size is None:
            return True
        total += size
        if total > MAX_TOTAL_BYTES:
            return True
    return False


def _stream_starts(data: bytes) -> list[int]:
    """Where the data of each ``stream`` keyword (not ``endstream``) begins.

    As pyHanko reads it: after any whitespace up to and including the first
    end of line (``stream \\n`` too, which the PDF syntax does not allow).
    """
    starts = []
    position = data.find(b"stream")
    while position >= 0:
        after = position + 6
        if data[position - 3:position] != b"end":
            start = after
            while data[start:start + 1] in _SAME_LINE_WHITESPACE:
                start += 1
            if data[start:start + 2] == b"\r\n":
                start += 2
            elif data[start:start + 1] in (b"\n", b"\r"):
                start += 1
            starts.append(start)
        position = data.find(b"stream", after)
    return starts


def _decoded_size(buffer: bytes, start: int, layers: int) -> int | None:
    """The largest size a stream at ``start`` decodes to (None: over budget)."""
    decoded = _one_layer(buffer, start)
    if decoded is None:
        return 0
    if len(decoded) > MAX_STREAM_BYTES:
        return None
    if layers > 1:
        inner = _decoded_size(decoded, 0, layers - 1)
        if inner is None:
            return None
        return max(inner, len(decoded))
    return len(decoded)


def _one_layer(buffer: bytes, start: int) -> bytes | None:
    """Flate, ASCII85 or ASCIIHex applied once (whichever decodes), else None."""
    inflater = zlib.decompressobj()
    try:
        return inflater.decompress(memoryview(buffer)[start:], MAX_STREAM_BYTES + 1)
    except zlib.error:
        pass
    head = buffer[start:start + 16]
    for pattern, marker, decode in ((_A85_START, b"~>", _a85), (_HEX_START, b">", _hex)):
        if not pattern.fullmatch(head):
            continue
        end = buffer.find(marker, start)
        if end < 0:
            continue
        try:
            return decode(buffer[start:end])
        except (ValueError, binascii.Error):
            continue
    return None


_WHITESPACE = b" \t\n\r\x0b\x0c"
_SAME_LINE_WHITESPACE = (b" ", b"\t", b"\x0c", b"\x00")


def _a85(text: bytes) -> bytes:
    return base64.a85decode(text, ignorechars=_WHITESPACE)


def _hex(text: bytes) -> bytes:
    digits = text.translate(None, _WHITESPACE)
    if len(digits) % 2:
        digits += b"0"
    return binascii.unhexlify(digits)
