"""Copying one blob: read once from the source, verify, (de|re)compress, hash and hand to the
destination, all in one streaming pass.

The source bytes are hashed as they are read (a source that lies about a digest fails the
copy); the destination hashes what it receives, so the new digest of a recompressed layer
is known the moment its last byte is sent. Reading and hashing the source, recompressing,
and sending each run in their own thread (:class:`~harness.copy.readahead.ReadAhead`), so
the stages overlap on several cores.

That one pass cannot go back: when an upload breaks and the registry dropped what it had
(distribution 2.8 cancels the session), the destination cannot resume a stream larger than
its resend window, so the blob is opened from the source and copied again, a bounded number
of times.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import dataclass, replace
from typing import BinaryIO, cast

from harness.copy.readahead import CHUNK, ReadAhead
from harness.copy.report import ProgressCallback
from harness.model.compression import (
    Algorithm,
    compress,
    decompress,
    layer_media_type,
)
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest, DigestingReader
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageSource,
    UploadInterruptedError,
)
from harness.util.chunkstream import chunk_stream
from harness.util.errors import HarnessError


@dataclass(frozen=True)
class CopiedBlob:
    """A blob as the destination holds it, and its uncompressed digest when one was asked."""

    descriptor: Descriptor
    diff_id: Digest | None = None


class _Counting:
    """Reports the bytes read from the source to a progress callback. A re-read after a
    broken upload reports only the bytes past *skip*, what earlier attempts already counted."""

    def __init__(self, stream: BinaryIO, progress: ProgressCallback, skip: int = 0) -> None:
        self._stream = stream
        self._progress = progress
        self._skip = skip
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        new = min(len(data), max(self.count + len(data) - self._skip, 0))
        self.count += len(data)
        if new:
            self._progress(new)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()


class _VerifiedAtEnd:
    """The source's bytes, checked against the layer's digest and size by the read that
    would report their end: a source that lies fails that read, so whatever consumes the
    stream (a compressor, the destination) sees an error, never a complete blob. As
    containers/image's digesting reader does: a corrupt source leaves no blob behind."""

    def __init__(self, verifier: DigestingReader) -> None:
        self._verifier = verifier

    def read(self, size: int = -1) -> bytes:
        data = self._verifier.read(size)
        if not data and size:
            self._verifier.verify()
        return data

    def readable(self) -> bool:
        return True


class _UncompressedDigest:
    """Passes a blob's bytes on unchanged while a thread of its own decompresses a copy
    and hashes it: the diffID of a layer copied as it is (containers/image keeps a schema1
    source's blobs and only computes their diffIDs). At most a few chunks wait in between.
    """

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._ended = False
        self._digest: Digest | None = None
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._hash, daemon=True)
        self._thread.start()

    def _hash(self) -> None:
        chunks = iter(self._queue.get, None)
        try:
            reader = DigestingReader(decompress(chunk_stream(chunks)))
            while reader.read(CHUNK):
                pass
            self._digest = reader.digest()
        except Exception as exc:  # reported by digest(), not lost
            self._error = exc
        for _ in chunks:  # let the copy go on to its end whatever happened here
            pass

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if data:
            self._queue.put(data)
        else:
            self._end()
        return data

    def readable(self) -> bool:
        return True

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._queue.put(None)

    def close(self) -> None:
        self._end()
        self._thread.join()

    def digest(self) -> Digest:
        """The uncompressed digest, once every byte was read."""
        self.close()
        if self._error is not None:
            raise self._error
        if self._digest is None:
            raise HarnessError("the layer's uncompressed content was not read to its end")
        return self._digest


def copy_blob(source: ImageSource, destination: ImageDestination, layer: Descriptor,
              target: Algorithm | None, *, level: int | None, progress: ProgressCallback,
              is_config: bool = False, oci: bool = True, diff_id: bool = False,
              retries: int = 0) -> CopiedBlob:
    """Copy one blob; return it as the destination now holds it.

    *target* None copies the bytes as they are (and lets the destination reuse a blob it
    already has); otherwise the blob is decompressed, hashed when *diff_id* is asked, and
    compressed with *target*. An upload that broke where the destination could not resume
    it (:class:`UploadInterruptedError`: its stream cannot go back) is started again from
    the source, up to *retries* times; a recompressed layer must then hash as the broken
    attempt did if that attempt had read it to the end.
    """
    source_info = BlobInfo(digest=layer.digest, size=layer.size, media_type=layer.media_type)
    # A diffID to learn means reading the layer, even one the destination has.
    if target is None and not diff_id and \
            destination.try_reusing_blob(source_info) is not None:
        progress(max(layer.size, 0))
        return CopiedBlob(layer)
    info = source_info if target is None else BlobInfo(media_type=layer.media_type)
    attempt, counted = 0, 0
    while True:
        counting = _Counting(source.get_blob(source_info)[0], progress, counted)
        try:
            return _copy_once(counting, destination, layer, info, target, level=level,
                              is_config=is_config, oci=oci, diff_id=diff_id)
        except UploadInterruptedError as exc:
            if attempt == retries:
                raise HarnessError(
                    f"blob {layer.digest}: the upload broke on each of {attempt + 1} "
                    f"attempts ({retries} retries); last: {exc}") from exc
            attempt += 1
            counted = max(counted, counting.count)
            if info.digest is None and exc.digest is not None:
                info = replace(info, digest=exc.digest)  # the fresh copy must match it


def _copy_once(counting: _Counting, destination: ImageDestination, layer: Descriptor,
               info: BlobInfo, target: Algorithm | None, *, level: int | None,
               is_config: bool, oci: bool, diff_id: bool) -> CopiedBlob:
    """One pass over the opened source blob: verify, (de|re)compress, hash and send."""
    with contextlib.ExitStack() as stack:
        stack.callback(counting.close)
        verified = cast(BinaryIO, _VerifiedAtEnd(DigestingReader(
            cast(BinaryIO, counting), expected=layer.digest, expected_size=layer.size)))
        source_end: BinaryIO | ReadAhead | _UncompressedDigest = verified
        plain: DigestingReader | _UncompressedDigest | None = None
        produced = verified
        if target is None and diff_id:
            plain = source_end = _UncompressedDigest(verified)
            stack.callback(plain.close)
            produced = cast(BinaryIO, plain)
        elif target is not None:
            # Reading and hashing get a thread of their own, apart from (de)compression.
            source_end = stack.enter_context(ReadAhead(verified, name="blob-read"))
            produced = decompress(cast(BinaryIO, source_end))
            if diff_id:
                plain = DigestingReader(produced)
                produced = cast(BinaryIO, plain)
            produced = compress(produced, target, level)
        stage = "blob-read" if target is None else "blob-compress"
        with ReadAhead(produced, name=stage) as body:
            stored = destination.put_blob(cast(BinaryIO, body), info, is_config)
        # A decompressor may stop before trailing bytes: the source's end verifies it.
        while source_end.read(CHUNK):
            pass
    if target is None:
        return CopiedBlob(replace(layer, size=stored.size if stored.size >= 0 else layer.size),
                          plain.digest() if plain is not None else None)
    if stored.digest is None:
        raise HarnessError(f"{destination.reference}: no digest returned for a new blob")
    new = replace(layer, digest=stored.digest, size=stored.size,
                  media_type=layer_media_type(target, oci=oci))
    return CopiedBlob(new, plain.digest() if plain is not None else None)
