"""Copying one blob: read once from the source, verify, (de|re)compress, hash and hand to the
destination, all in one streaming pass.

The source bytes are hashed as they are read (a source that lies about a digest fails the
copy); the destination hashes what it receives, so the new digest of a recompressed layer
is known the moment its last byte is sent. Reading and hashing the source, recompressing,
and sending each run in their own thread (:class:`~harness.copy.readahead.ReadAhead`), so
the stages overlap on several cores.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import BinaryIO, cast

from harness.copy.readahead import CHUNK, ReadAhead
from harness.copy.report import ProgressCallback
from harness.model.compression import (
    Algorithm,
    algorithm_for_media_type,
    compress,
    decompress,
    layer_media_type,
)
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest, DigestingReader
from harness.transports.types import BlobInfo, ImageDestination, ImageSource
from harness.util.errors import HarnessError


def compression_plan(layer: Descriptor, desired: Algorithm | None, *,
                     recompress: bool) -> Algorithm | None:
    """The algorithm to recompress *layer* to, or None to copy its bytes unchanged.

    *desired* is what the user or the destination asked for (None: keep as is);
    *recompress* forces a new encoding (gzip unless something else was asked), for layers
    the target manifest type cannot describe (zstd in Docker formats) or whose diffID
    must be learnt on the way (schema1 sources).
    """
    if recompress:
        return desired or Algorithm.GZIP
    if desired is None or desired is algorithm_for_media_type(layer.media_type):
        return None
    return desired


@dataclass(frozen=True)
class CopiedBlob:
    """A blob as the destination holds it, and its uncompressed digest when one was asked."""

    descriptor: Descriptor
    diff_id: Digest | None = None


class _Counting:
    """Reports the bytes read from the source to a progress callback."""

    def __init__(self, stream: BinaryIO, progress: ProgressCallback) -> None:
        self._stream = stream
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._progress(len(data))
        return data

    def readable(self) -> bool:
        return True


def copy_blob(source: ImageSource, destination: ImageDestination, layer: Descriptor,
              target: Algorithm | None, *, level: int | None, progress: ProgressCallback,
              is_config: bool = False, oci: bool = True, diff_id: bool = False
              ) -> CopiedBlob:
    """Copy one blob; return it as the destination now holds it.

    *target* None copies the bytes as they are (and lets the destination reuse a blob it
    already has); otherwise the blob is decompressed, hashed when *diff_id* is asked, and
    compressed with *target*.
    """
    info = BlobInfo(digest=layer.digest, size=layer.size, media_type=layer.media_type)
    if target is None and destination.try_reusing_blob(info) is not None:
        progress(max(layer.size, 0))
        return CopiedBlob(layer)
    stream, _size = source.get_blob(info)
    with contextlib.ExitStack() as stack:
        stack.callback(stream.close)
        verifier = DigestingReader(cast(BinaryIO, _Counting(stream, progress)),
                                   expected=layer.digest)
        source_end: DigestingReader | ReadAhead = verifier
        plain: DigestingReader | None = None
        produced = cast(BinaryIO, verifier)
        if target is not None:
            # Reading and hashing get a thread of their own, apart from (de)compression.
            source_end = stack.enter_context(ReadAhead(cast(BinaryIO, verifier)))
            produced = decompress(cast(BinaryIO, source_end))
            if diff_id:
                plain = DigestingReader(produced)
                produced = cast(BinaryIO, plain)
            produced = compress(produced, target, level)
            info = BlobInfo(media_type=layer.media_type)
        with ReadAhead(produced) as body:
            stored = destination.put_blob(cast(BinaryIO, body), info, is_config)
        while source_end.read(CHUNK):  # a decompressor may stop before trailing bytes
            pass
        verifier.verify()
    if target is None:
        return CopiedBlob(replace(layer, size=stored.size if stored.size >= 0 else layer.size))
    if stored.digest is None:
        raise HarnessError(f"{destination.reference}: no digest returned for a new blob")
    new = replace(layer, digest=stored.digest, size=stored.size,
                  media_type=layer_media_type(target, oci=oci))
    return CopiedBlob(new, plain.digest() if plain is not None else None)
