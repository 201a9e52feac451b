"""Logging set-up with a filter that masks ID numbers in every record.

Views already log masked values; the filter is the safety net for the message
somebody writes carelessly later (a person's ID number is personal data).
"""

from __future__ import annotations

import logging
import re

# Not after a dot: a license identifier embeds the issuer's USCC, which may be
# all digits and is public. Spaces or dashes may separate the characters, and
# the digits may be full-width: the vault and the log-in accept all of these.
_ID_NUMBER = re.compile(
    r"(?<![0-9A-Za-z.])(\d(?:[ \t-]?\d){2})(?:[ \t-]?\d){14}[ \t-]?([\dXxＸｘ])"
    r"(?![0-9A-Za-z])")


def mask_id_numbers(text: str) -> str:
    """Mask anything shaped like an 18-character resident ID number.

    >>> mask_id_numbers("login by 11010519491231002X failed")
    'login by 110**************X failed'
    >>> mask_id_numbers("GET /api/v1/licenses/110105-19491231-002x and 110105 19491231 002X")
    'GET /api/v1/licenses/110**************x and 110**************X'
    >>> mask_id_numbers("１１０１０５１９４９１２３１００２Ｘ")
    '１１０**************Ｘ'
    >>> mask_id_numbers("issued 1.2.156.3005.2.121100000000000000001.121100000000000000.X")
    'issued 1.2.156.3005.2.121100000000000000001.121100000000000000.X'
    """
    return _ID_NUMBER.sub(r"\1**************\2", text)


class MaskIdNumbers(logging.Filter):
    """Masks the message, and the traceback too: an error may quote the input it choked on."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_id_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        # A formatter prints exc_text when it is set, so mask the text it would print.
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_id_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_id_numbers(record.stack_info)
        return True


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, MaskIdNumbers) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(MaskIdNumbers())
        root.addHandler(handler)
    root.setLevel(level)
    # pyHanko logs every modification it refuses as a warning with a traceback:
    # for a verifier a refused change is a verdict, not an incident, and a
    # stream of forged uploads must not flood the log.
    logging.getLogger("pyhanko.sign.diff_analysis").setLevel(logging.ERROR)
