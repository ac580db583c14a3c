"""Reading manifests and configs whole stops at the model's limits."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.model.limits import TooLargeError, read_limited


class _Trickle(io.RawIOBase):
    """Hands out at most three bytes a read, as a socket or a verifying reader may."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        piece = self.data[self.served:self.served + min(3, size)]
        self.served += len(piece)
        return piece


@given(st.binary(max_size=300), st.integers(0, 300))
def test_under_the_limit_everything_is_read_and_over_it_reading_stops(data: bytes,
                                                                       limit: int) -> None:
    stream = _Trickle(data)
    if len(data) <= limit:
        assert read_limited(stream, limit, "x") == data
    else:
        with pytest.raises(TooLargeError, match=f"^manifest m is over the {limit}-byte limit$"):
            read_limited(stream, limit, "manifest m")
        assert stream.served == limit + 1
