"""Blob upload sessions: monolithic for small blobs, else streamed or chunked PATCHes.

The blob is read once, hashed as it goes (its digest may be unknown when the upload starts:
the copy engine compresses on the fly), and never held whole in memory. When a PATCH breaks,
the session's status (``GET <location>`` -> ``Range``) says how much the registry kept and
the upload resumes from there, resending bytes still held: the current chunk, or in streamed
mode a bounded tail of what was sent. A registry that dropped the session (distribution
cancels an upload whose file and state disagree) gets the blob again from the start when the
stream can seek back; otherwise :class:`UploadInterruptedError` tells the caller to produce the
bytes again from their origin (the copy engine re-opens the layer).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from typing import BinaryIO, Final

from harness.model.digest import Digest, Digester, DigestMismatchError
from harness.transports import types
from harness.transports.docker.client import (
    RegistryClient,
    RegistryUnreachableError,
    parse_digest_header,
)
from harness.transports.docker.errors import ProtocolError, RegistryError
from harness.transports.docker.headers import decimal
from harness.transports.docker.retry import is_transient_status
from harness.util.errors import HarnessError

# Blobs of known digest and size up to this go in one PUT. Without the digest the size is
# not trusted: it may be the size before the copy engine compressed the stream.
MONOLITHIC_MAX: Final = 1024 * 1024
PIECE: Final = 1024 * 1024  # read size while streaming
RESUME_WINDOW: Final = 4 * 1024 * 1024  # streamed mode keeps this much to resend


class UploadError(HarnessError):
    """A blob upload failed in a way that resuming could not repair."""


class UploadInterruptedError(UploadError, types.UploadInterruptedError):
    """The contract's "send it again from the source" (see
    :class:`harness.transports.types.UploadInterruptedError`), raised by this client when
    the registry dropped the session and the stream is past the resend window."""


class _Source:
    """The blob's bytes, read once and hashed; keeps the last *window* bytes for resending."""

    def __init__(self, stream: BinaryIO, algorithm: str, window: int) -> None:
        self._stream = stream
        self._algorithm = algorithm
        self._window = window
        self.error: BaseException | None = None
        self.ended = False  # the stream reported its end
        self._reset()

    def _reset(self) -> None:
        self.digester = Digester(self._algorithm)
        self._tail: deque[bytes] = deque()
        self._tail_start = 0
        self._tail_size = 0

    @property
    def position(self) -> int:
        """Bytes read so far."""
        return self.digester.size

    def read(self, size: int) -> bytes:
        try:
            data = self._stream.read(size)
        except Exception as exc:
            self.error = exc  # a local fault: never retried as if the network broke
            raise
        if data:
            self.digester.update(data)
            if self._window:
                self._keep(data)
        elif size:
            self.ended = True
        return data

    def _keep(self, data: bytes) -> None:
        self._tail.append(data)
        self._tail_size += len(data)
        while self._tail_size - len(self._tail[0]) >= self._window:
            dropped = self._tail.popleft()
            self._tail_start += len(dropped)
            self._tail_size -= len(dropped)

    @property
    def held_from(self) -> int:
        """The first byte still held for resending."""
        return self._tail_start if self._window else self.position

    def replay(self, offset: int) -> bytes | None:
        """The bytes from *offset* to :attr:`position`, or None if they are no longer held."""
        if offset == self.position:
            return b""
        if not self._tail_start <= offset < self.position:
            return None
        return b"".join(self._tail)[offset - self._tail_start:]

    def rewind(self) -> bool:
        """Go back to the first byte, if the stream can; forget the digest so far."""
        seekable = getattr(self._stream, "seekable", None)
        if seekable is None or not seekable():
            return False
        self._stream.seek(0)
        self.ended = False
        self._reset()
        return True


def _read_up_to(read: Callable[[int], bytes], size: int) -> bytes:
    """Up to *size* bytes, fewer only at the end: a stream may return short reads."""
    parts: list[bytes] = []
    wanted = size
    while wanted and (piece := read(min(wanted, PIECE))):
        parts.append(piece)
        wanted -= len(piece)
    return b"".join(parts)


def _range_end(response_range: str | None) -> int | None:
    """The byte count a ``Range: 0-<last>`` header reports (``0-0`` is read as empty)."""
    if not response_range:
        return None
    end = decimal(response_range.partition("-")[2])
    if end is None:
        return None
    return 0 if end == 0 else end + 1


def _session_gone(exc: RegistryError) -> bool:
    """Whether a PATCH was refused because the registry no longer has the session.

    After a cut PATCH, a busy distribution may answer the status request before it has
    written any of the cut body: that status is stale (the offset before the cut), and
    the resumed PATCH then finds the session cancelled ("upload resumed at wrong offset":
    404 BLOB_UPLOAD_INVALID). Like a session found gone by the status request, the upload
    starts again rather than failing.
    """
    return exc.status == 404 and exc.code in ("BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN")


class BlobUpload:
    """One blob's upload session on *client*'s repository."""

    def __init__(self, client: RegistryClient, chunk_size: int | None = None,
                 location: str | None = None) -> None:
        self._client = client
        self._chunk_size = chunk_size
        self._location = location
        self._min_chunk = 0

    def send(self, stream: BinaryIO, expected: Digest | None = None,
             size: int = -1) -> tuple[Digest, int]:
        """Upload the stream; return its digest and size (checked against *expected*)."""
        if self._location is None:
            self._location, self._min_chunk = self._client.start_upload()
        try:
            if expected is not None and 0 <= size <= MONOLITHIC_MAX:
                return self._monolithic(stream, expected, size)
            source = _Source(stream, expected.algorithm if expected else "sha256",
                             0 if self._chunk_size else RESUME_WINDOW)
            if self._chunk_size:
                self._chunked(source, max(self._chunk_size, self._min_chunk))
            else:
                self._streamed(source)
            digest = self._check(source.digester.digest(), expected)
            return self._finish(digest), source.position
        except BaseException:
            self._client.cancel_upload(self._location)
            raise

    def _check(self, actual: Digest, expected: Digest | None) -> Digest:
        if expected is not None and actual != expected:
            raise DigestMismatchError(expected, actual)
        return actual

    def _monolithic(self, stream: BinaryIO, expected: Digest,
                    size: int) -> tuple[Digest, int]:
        """A small blob of known size: read it (bounded) and PUT it with its digest at once."""
        data = _read_up_to(stream.read, size + 1)
        if len(data) != size:
            raise UploadError(f"blob announced as {size} bytes has "
                              f"{'more' if len(data) > size else len(data)} bytes")
        digest = self._check(Digest.from_bytes(data, expected.algorithm), expected)
        return self._finish(digest, data), size

    def _streamed(self, source: _Source) -> None:
        """One PATCH with the whole stream as its body; resume after breaks."""
        replay = b""
        while True:
            try:
                self._patch(self._body(source, replay), None)
                return
            except (RegistryUnreachableError, RegistryError) as exc:
                offset = self._recover(exc, source, source.held_from)
                replay = b"" if offset is None else source.replay(offset) or b""

    @staticmethod
    def _body(source: _Source, replay: bytes) -> Iterator[bytes]:
        if replay:
            yield replay
        while piece := source.read(PIECE):
            yield piece

    def _chunked(self, source: _Source, chunk_size: int) -> None:
        """PATCHes of *chunk_size* bytes with ``Content-Range``; a broken one resumes."""
        chunk, start = b"", 0
        while True:
            if not chunk:
                start = source.position
                chunk = _read_up_to(source.read, chunk_size)
                if not chunk:
                    return
            try:
                self._patch(chunk, start)
                chunk = b""
            except (RegistryUnreachableError, RegistryError) as exc:
                offset = self._recover(exc, source, start)
                chunk = b"" if offset is None else chunk[offset - start:]
                start = start if offset is None else offset

    def _patch(self, body: bytes | Iterator[bytes], start: int | None) -> None:
        assert self._location is not None
        headers = {"Content-Type": "application/octet-stream"}
        if start is not None and isinstance(body, bytes):
            headers["Content-Range"] = f"{start}-{start + len(body) - 1}"
            headers["Content-Length"] = str(len(body))
        response = self._client.request("PATCH", self._location, ok=(202, 204),
                                        headers=headers, data=body, repeat=False)
        with response:
            self._location = self._client.resolve(response.headers.get("Location")
                                                  or self._location)

    def _recover(self, exc: HarnessError, source: _Source, held_from: int) -> int | None:
        """After a failed PATCH, and a backoff: the offset to go on from (the bytes from
        *held_from* to the source's position are still held), or None when the upload
        starts over from a rewound source. Raise when the failure is not transient, the
        retries are spent, or the bytes are gone."""
        if source.error is not None:
            raise source.error
        transient = isinstance(exc, RegistryUnreachableError) or (
            isinstance(exc, RegistryError) and (is_transient_status(exc.status)
                                                or exc.code == "RANGE_INVALID"
                                                or _session_gone(exc)))
        if not transient or not self._client.retries.again(str(exc)):
            raise exc
        offset = self._status()
        if offset == 0 and source.position > 0:
            # "Range: 0-0" says nothing or one byte (distribution writes it for both): once
            # anything was sent, the session's content is unknown, so it is not resumed.
            offset = None
        if offset is not None and held_from <= offset <= source.position:
            return offset
        # The session is gone (or kept bytes no longer held): a new one, from the first byte.
        if held_from == 0 or source.rewind():
            assert self._location is not None
            self._client.cancel_upload(self._location)
            self._location, self._min_chunk = self._client.start_upload()
            return 0 if held_from == 0 else None
        raise UploadInterruptedError(
            f"blob upload broke after {source.position} bytes and the registry kept "
            f"{'no session' if offset is None else f'{offset} bytes'}; the source cannot be "
            f"read again", source.position,
            source.digester.digest() if source.ended else None) from exc

    def _status(self) -> int | None:
        """How many bytes the session holds, or None when the registry dropped it."""
        assert self._location is not None
        try:
            response = self._client.request("GET", self._location, ok=(204, 200))
        except (RegistryError, RegistryUnreachableError):
            return None
        with response:
            self._location = self._client.resolve(response.headers.get("Location")
                                                  or self._location)
            return _range_end(response.headers.get("Range"))

    def _finish(self, digest: Digest, data: bytes = b"") -> Digest:
        """``PUT <location>?digest=`` with the last bytes, if any; the blob is then stored."""
        assert self._location is not None
        try:
            response = self._client.request(
                "PUT", self._location, ok=(201, 204), params={"digest": str(digest)},
                data=data, headers={"Content-Type": "application/octet-stream"})
        except RegistryError as exc:
            # A retried PUT whose first try landed finds no session; the blob is there.
            if exc.code == "BLOB_UPLOAD_UNKNOWN" and self._client.blob_size(digest) is not None:
                return digest
            raise
        with response:
            self._check_announced(response.headers.get("Docker-Content-Digest"), digest)
        return digest

    @staticmethod
    def _check_announced(header: str | None, digest: Digest) -> None:
        announced = parse_digest_header(header, f"blob {digest}")
        if announced is not None and announced != digest:
            raise ProtocolError(f"blob {digest}: the registry stored it as {announced}")
