"""Size limits for what is read whole: manifests and configs.

Everything else streams, but these are parsed as JSON, so they are read into memory. A
source is untrusted (a manifest may name any blob as its config), so reading stops past
containers/image's limits (``iolimits``: 4 MiB for a manifest, 4 MiB for a config).
"""

from __future__ import annotations

from typing import BinaryIO, Final

from harness.util.errors import HarnessError

MAX_MANIFEST_SIZE: Final = 4 * 1024 * 1024
MAX_CONFIG_SIZE: Final = 4 * 1024 * 1024
_PIECE: Final = 64 * 1024


class TooLargeError(HarnessError):
    """Something read whole was over its limit."""


def read_limited(stream: BinaryIO, limit: int, what: str) -> bytes:
    """All of *stream*, refusing it after reading at most *limit* + 1 bytes."""
    data = bytearray()
    while len(data) <= limit:
        piece = stream.read(min(_PIECE, limit + 1 - len(data)))
        if not piece:
            return bytes(data)
        data += piece
    raise TooLargeError(f"{what} is over the {limit}-byte limit")
