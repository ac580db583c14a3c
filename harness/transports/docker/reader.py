"""Reading a blob from a registry as a stream that survives broken connections.

When the body breaks off, the blob is requested again with ``Range: bytes=<offset>-`` and
reading goes on where it stopped; a registry that ignores the range sends the whole blob
and the bytes already read are skipped. The content is hashed as it passes and checked
against the digest at the end; a mismatch is never retried.
"""

from __future__ import annotations

import io

from harness.model.digest import Digest, Digester, DigestMismatchError
from harness.transports.docker.client import RegistryClient, RegistryUnreachableError
from harness.transports.docker.headers import decimal
from harness.transports.docker.retry import TRANSIENT_EXCEPTIONS
from harness.transports.docker.session import Response

_SKIP_PIECE = 1024 * 1024


class BlobReader(io.RawIOBase):
    """The blob's bytes: reopened from the current offset after a break, and verified
    against *digest* when the end is reached.

    An end before *size* (when known, from the manifest) is a break too: a proxy may cut a
    body and its Content-Length alike.
    """

    def __init__(self, client: RegistryClient, digest: Digest,
                 response: Response, size: int = -1) -> None:
        self._client = client
        self._digest = digest
        self._size = size
        self._response = response
        self._digester = Digester(digest.algorithm)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while True:
            try:
                data = self._response.read(len(buffer))
            except TRANSIENT_EXCEPTIONS as exc:
                self._reopen(exc)
                continue
            if not data and 0 <= self._digester.size < self._size:
                self._reopen(EOFError(f"body ended before byte {self._size}"))
                continue
            if not data:
                actual = self._digester.digest()
                if actual != self._digest:
                    raise DigestMismatchError(self._digest, actual)
                return 0
            buffer[: len(data)] = data
            self._digester.update(data)
            return len(data)

    def _reopen(self, exc: Exception) -> None:
        self._response.close()
        offset = self._digester.size
        message = (f"GET blob {self._digest}: the body broke off after {offset} bytes "
                   f"({type(exc).__name__})")
        if not self._client.retries.again(message):
            raise RegistryUnreachableError(message) from None
        self._response = self._client.get_blob(self._digest, offset)
        if self._response.status_code == 200:  # the range was ignored: skip what we have
            self._skip(offset)

    def _skip(self, count: int) -> None:
        while count:
            piece = self._response.read(min(count, _SKIP_PIECE))
            if not piece:
                raise RegistryUnreachableError(
                    f"GET blob {self._digest}: the registry resent a shorter blob")
            count -= len(piece)

    def close(self) -> None:
        self._response.close()
        super().close()


def open_blob(client: RegistryClient, digest: Digest,
              size: int = -1) -> tuple[io.BufferedReader, int]:
    """A buffered, resuming, verifying stream of the blob and its size (-1 if unknown);
    *size* is the size the manifest gives, if any."""
    response = client.get_blob(digest)
    length = decimal(response.headers.get("Content-Length"))
    announced = -1 if length is None else length
    return (io.BufferedReader(BlobReader(client, digest, response, size), _SKIP_PIECE),
            size if size >= 0 else announced)
