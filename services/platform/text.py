"""The one rule for text every service accepts: no control characters, in any string field.

A NUL, an ESC or a bidi override stored in an email ends up in logs, terminals, CSV
exports and other systems' parsers; none belongs in a shop's data. `str.isprintable`
is the rule: it refuses every control (Cc), format (Cf), separator other than the
plain space (Zl, Zp, Zs) and unassigned character, and accepts letters of every script.
"""

from __future__ import annotations

from services.errors import ErrorCode, ShopError


def printable(field: str, value: str) -> str:
    """`value` unchanged; INVALID_ARGUMENT (10001) naming `field` if it has a control character."""
    if not value.isprintable():
        message = f"{field} must not contain control characters"
        raise ShopError(ErrorCode.INVALID_ARGUMENT, message, {"field": field})
    return value
