"""One layer's pipeline (:func:`harness.copy.blobcopy.copy_blob`): reading and verifying
the source, (de|re)compressing, and hashing and sending each run on a thread of their own;
the compressed bytes are those of one compressor fed the input 1 MiB at a time, whatever
the threads; and every way a copy can break (a source whose bytes are not its digest's,
one that ends early, a send that fails) fails it with that error, no blob stored, no
thread left running and the source closed, on every path: compress, recompress,
decompress, pass-through, pass-through with a diffID."""

from __future__ import annotations

import gzip
import io
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Protocol

import pytest
import zstandard
from isal import isal_zlib

from harness.copy.blobcopy import copy_blob
from harness.copy.engine import CopyOptions, copy_image
from harness.model import compression
from harness.model import mediatype as mt
from harness.model.compression import Algorithm
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest, DigestMismatchError
from harness.model.manifest import parse_manifest
from harness.peers.clients import Skopeo
from harness.peers.launchers import DistributionLauncher
from harness.pytest_plugin.images import ImageSpec, write_image
from harness.pytest_plugin.trees import files_tree
from harness.transports.alltransports import parse_image_name
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageReference,
    ImageSource,
    SystemContext,
)

MiB = 1 << 20


class _Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...
    def flush(self) -> bytes: ...


def _text(size: int, seed: int = 0) -> bytes:
    """*size* bytes of words: compressible like a real layer, so the compressor's choices
    (and so its split of the input) show in its output."""
    rng = random.Random(seed)
    words = [bytes(rng.choices(range(97, 123), k=rng.randint(2, 9))) for _ in range(500)]
    text = b" ".join(rng.choices(words, k=size // 4))
    return (rng.randbytes(MiB // 3) + text)[:size]


DATA = _text(5 * MiB + 12345)  # several chunks and a partial one


def _fed(data: bytes, step: int, new: Callable[[], _Compressor]) -> bytes:
    compressor = new()
    out = [compressor.compress(data[i:i + step]) for i in range(0, len(data), step)]
    return b"".join([*out, compressor.flush()])


def _isal() -> _Compressor:
    return isal_zlib.compressobj(isal_zlib.ISAL_DEFAULT_COMPRESSION, isal_zlib.DEFLATED, 31)


def _zstd() -> _Compressor:
    return zstandard.ZstdCompressor(level=3, write_checksum=True).compressobj()


class _Blob(io.BytesIO):
    """A source blob that notes the threads reading it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.threads: set[threading.Thread] = set()

    def read(self, size: int | None = -1) -> bytes:
        self.threads.add(threading.current_thread())
        return super().read(size)


class _Source(ImageSource):
    """Serves *data* as any blob asked for."""

    def __init__(self, data: bytes) -> None:
        self.blob = _Blob(data)

    @property
    def reference(self) -> ImageReference:
        raise AssertionError("a blob copy needs no reference")

    def get_manifest(self, instance: Digest | None = None) -> tuple[bytes, str]:
        raise AssertionError("a blob copy reads no manifest")

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        return self.blob, len(self.blob.getbuffer())


class _Destination(ImageDestination):
    """Keeps a blob once its stream ended, with no check of its own: what it holds is what
    the copy let through. With *fail_after*, the send breaks past that many bytes."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.fail_after = fail_after
        self.blobs: dict[Digest, bytes] = {}
        self.threads: set[threading.Thread] = set()

    @property
    def reference(self) -> ImageReference:
        raise AssertionError("not asked when the copy succeeds")

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        self.threads.add(threading.current_thread())
        parts: list[bytes] = []
        while piece := stream.read(MiB):
            parts.append(piece)
            if self.fail_after is not None and sum(map(len, parts)) > self.fail_after:
                raise OSError("the destination's disk is full")
        data = b"".join(parts)
        self.blobs[Digest.from_bytes(data)] = data
        return BlobInfo(Digest.from_bytes(data), len(data), info.media_type)

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        raise AssertionError("a blob copy writes no manifest")

    def publish(self) -> None:
        raise AssertionError("a blob copy publishes nothing")


def _layer(blob: bytes, media_type: str) -> Descriptor:
    return Descriptor(media_type, Digest.from_bytes(blob), len(blob))


def _copy(source: _Source, destination: _Destination, layer: Descriptor,
          target: Algorithm | None, diff_id: bool = False) -> Descriptor:
    return copy_blob(source, destination, layer, target, level=None, diff_id=diff_id,
                     progress=lambda _: None).descriptor


@pytest.mark.parametrize(("target", "new"), [(Algorithm.GZIP, _isal), (Algorithm.ZSTD, _zstd)])
def test_the_compressed_bytes_are_one_compressor_fed_1_mib_at_a_time(
        target: Algorithm, new: Callable[[], _Compressor]) -> None:
    destination = _Destination()
    copied = _copy(_Source(DATA), destination, _layer(DATA, mt.OCI_LAYER), target)
    expected = _fed(DATA, MiB, new)
    assert destination.blobs == {copied.digest: expected}
    assert copied.size == len(expected)
    if target is Algorithm.GZIP:  # isal's output depends on the split: the check has teeth
        assert _fed(DATA, 64 << 10, new) != expected


def test_reading_compressing_and_sending_run_on_three_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """isal has a thread to itself: the source is read (and hashed) on another, and the
    compressed stream is hashed and sent on the caller's."""
    compressing: set[threading.Thread] = set()
    real = compression._COMPRESSORS[Algorithm.GZIP]

    class Noting:
        def __init__(self, level: int | None) -> None:
            self._compressor = real(level)

        def compress(self, data: bytes, /) -> bytes:
            compressing.add(threading.current_thread())
            return self._compressor.compress(data)

        def flush(self) -> bytes:
            compressing.add(threading.current_thread())
            return self._compressor.flush()

    monkeypatch.setitem(compression._COMPRESSORS, Algorithm.GZIP, Noting)
    source, destination = _Source(DATA), _Destination()
    _copy(source, destination, _layer(DATA, mt.OCI_LAYER), Algorithm.GZIP)
    assert [thread.name for thread in source.blob.threads] == ["blob-read"]
    assert [thread.name for thread in compressing] == ["blob-compress"]
    assert destination.threads == {threading.current_thread()}


GZIPPED = gzip.compress(DATA, compresslevel=1, mtime=0)
# (source blob, its media type, target, diffID asked)
PATHS = {
    "compress": (DATA, mt.OCI_LAYER, Algorithm.GZIP, False),
    "recompress to zstd": (GZIPPED, mt.OCI_LAYER_GZIP, Algorithm.ZSTD, False),
    "decompress": (GZIPPED, mt.OCI_LAYER_GZIP, Algorithm.NONE, False),
    "pass-through": (GZIPPED, mt.OCI_LAYER_GZIP, None, False),
    "pass-through with diffID": (GZIPPED, mt.OCI_LAYER_GZIP, None, True),
}


def _other_blob_of_the_same_size(blob: bytes) -> bytes:
    """Valid content, not the digest's: gzip with another mtime, or one byte changed."""
    if blob is GZIPPED:
        return gzip.compress(DATA, compresslevel=1, mtime=1)
    return blob[:1000] + bytes([blob[1000] ^ 1]) + blob[1001:]


FAULTS: dict[str, tuple[Callable[[bytes], bytes], int | None, type[Exception], str]] = {
    "wrong content": (_other_blob_of_the_same_size, None, DigestMismatchError,
                      "digest mismatch"),
    "short read": (lambda blob: blob[:len(blob) // 2], None, DigestMismatchError,
                   "digest mismatch"),
    "send fails": (lambda blob: blob, MiB // 2, OSError, "disk is full"),
}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("path", PATHS)
def test_a_broken_copy_fails_cleanly(path: str, fault: str) -> None:
    blob, media_type, target, diff_id = PATHS[path]
    served, fail_after, error, message = FAULTS[fault]
    source, destination = _Source(served(blob)), _Destination(fail_after)
    before = set(threading.enumerate())
    with pytest.raises(error, match=message):
        _copy(source, destination, _layer(blob, media_type), target, diff_id)
    assert destination.blobs == {}  # the stream failed before its end: nothing kept
    assert set(threading.enumerate()) - before == set()
    assert source.blob.closed


@pytest.mark.parametrize("path", PATHS)
def test_each_path_copies_what_it_should(path: str) -> None:
    """The matrix above fails on purpose; this is its passing row."""
    blob, media_type, target, diff_id = PATHS[path]
    destination = _Destination()
    copied = _copy(_Source(blob), destination, _layer(blob, media_type), target, diff_id)
    (stored,) = destination.blobs.values()
    assert copied.digest == Digest.from_bytes(stored)
    assert compression.decompress(io.BytesIO(stored)).read() == DATA


@pytest.mark.requires_peer("docker-registry")
@pytest.mark.requires_peer("skopeo")
def test_a_corrupt_layer_pushed_with_gzip_leaves_no_blob_in_distribution_as_with_skopeo(
        tmp_path: Path, policy: Path) -> None:
    """The layer's digest is checked by the read that ends it, before the upload's last
    bytes: the PATCH breaks, no PUT commits the recompressed blob. skopeo 1.9 does the same
    (containers/image's digesting reader fails that read). Ours runs as the command, so
    whichever HTTP client the command uses is the one tested, and in process."""
    ref = f"oci:{tmp_path}/layout:v1"
    built = write_image(ImageSpec((files_tree({"data": _text(3 * MiB, seed=1)}),),
                                  compression=Algorithm.NONE), parse_image_name(ref))
    layer = parse_manifest(built.manifest).layers[0]
    path = tmp_path / "layout" / "blobs" / "sha256" / layer.digest.hex
    path.chmod(0o644)
    path.write_bytes(_other_blob_of_the_same_size(path.read_bytes()))
    with DistributionLauncher().start() as registry:
        theirs = Skopeo(tmp_path / "skopeo", registry).copy(
            ref, f"docker://{registry.image('theirs:v1')}", "--dest-compress-format", "gzip",
            check=False)
        command = subprocess.run(
            [sys.executable, "-m", "harness", "copy", "--policy", str(policy), "--quiet",
             "--dest-compress-format", "gzip", "--dest-tls-verify=false", "--retry-times",
             "0", ref, f"docker://{registry.image('ours:v1')}"],
            capture_output=True, text=True, check=False)
        with pytest.raises(DigestMismatchError):
            copy_image(parse_image_name(f"docker://{registry.image('in-process:v1')}"),
                       parse_image_name(ref),
                       CopyOptions(signature_policy_path=policy, compression=Algorithm.GZIP,
                                   dest_ctx=SystemContext.reaching(registry, retry_times=0)))
        assert registry.log_path is not None
        blobs = registry.log_path.parent / "storage" / "docker" / "registry" / "v2" / "blobs"
        stored = sorted(p.parent.name for p in blobs.rglob("data"))
    assert theirs.returncode != 0 and "Digest did not match" in theirs.stderr, theirs.stderr
    assert command.returncode == 125, command.stderr
    assert command.stderr.count("\n") == 1 and "digest mismatch" in command.stderr, \
        command.stderr
    assert stored == []
