"""Numbers in headers and options: plain ASCII int64 or nothing, never a traceback."""

from __future__ import annotations

import pytest

from harness.transports.docker.headers import decimal


@pytest.mark.parametrize(("value", "number"), [
    ("0", 0), ("42", 42), (" 7\t", 7), ("9" * 19, int("9" * 19)),
    (None, None), ("", None), ("-1", None), ("1.5", None), ("0x10", None),
    ("\u00b2", None), ("\u0663", None), ("9" * 20, None), ("9" * 5000, None),
])
def test_decimal(value: str | None, number: int | None) -> None:
    assert decimal(value) == number


@pytest.mark.parametrize(("header", "count"), [("0-0", 0), ("0-9", 10), (None, None),
                                               ("0-²", None), ("0-" + "9" * 5000, None),
                                               ("bytes", None)])
def test_upload_range_reads_through_decimal(header: str | None, count: int | None) -> None:
    from harness.transports.docker.upload import _range_end  # noqa: PLC0415

    assert _range_end(header) == count
