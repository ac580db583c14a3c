"""Numbers in HTTP header values and options, read as Go's ``strconv`` reads them."""

from __future__ import annotations

import re

_DECIMAL = re.compile(r"[0-9]{1,19}")


def decimal(value: str | None) -> int | None:
    """*value* as a non-negative int64, or None when it is anything else.

    ``str.isdigit`` also passes ``"²"``, which ``int`` then refuses, and ``int`` raises on
    4300+ digits: both would be a traceback instead of a header the registry got wrong.
    """
    if value is None:
        return None
    value = value.strip()
    return int(value) if _DECIMAL.fullmatch(value) else None
