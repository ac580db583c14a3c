"""A layer upload broken beyond what the registry client can resume (the registry dropped
the session, the compressed stream cannot go back) is copied again from the source: the
image that arrives is bit-identical to a clean push, other layers are not sent twice, and
running out of retries is reported exactly."""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import BinaryIO

import pytest

from fakeregistry import FaultRule, Registry
from harness.cli.main import main
from harness.copy.blobcopy import copy_blob
from harness.copy.engine import CopyOptions, CopyResult, copy_image
from harness.model import mediatype as mt
from harness.model.compression import Algorithm
from harness.model.digest import Digest, DigestMismatchError
from harness.model.manifest import parse_manifest
from harness.peers.launchers import RunningRegistry
from harness.pytest_plugin.images import ImageSpec, write_image
from harness.pytest_plugin.trees import LayerTree, files_tree
from harness.transports.alltransports import parse_image_name
from harness.transports.directory import DirImageDestination, DirReference
from harness.transports.docker import CHUNK_SIZE_KEY, UploadInterruptedError
from harness.transports.docker.upload import RESUME_WINDOW
from harness.transports.oci import OCIImageSource
from harness.transports.types import BlobInfo, ImageDestination, LayerCompression, SystemContext
from tests._support.tcpfaults import CuttingProxy

BIG = RESUME_WINDOW + 2 * 1024 * 1024  # past the client's resend window once compressed
SESSION_GONE = "method=GET,path=/v2/*/blobs/uploads/*,status=404,code=BLOB_UPLOAD_UNKNOWN"


def _ctx(retries: int, chunk: int | None = None) -> SystemContext:
    return SystemContext(tls_verify=False, retry_times=retries, retry_delay=0.01,
                         extra={CHUNK_SIZE_KEY: str(chunk)} if chunk else {})


@pytest.fixture(scope="module")
def big_layer() -> LayerTree:
    """Random content: gzip cannot shrink it below the resend window."""
    return files_tree({"data/random": os.urandom(BIG)})


def _plain_image(path: Path, layers: list[LayerTree], *, gzipped: bool = False
                 ) -> tuple[str, Digest]:
    """An OCI image of *layers*, uncompressed unless *gzipped*: a push gzips them on the
    fly, or sends the gzipped bytes as they are; either way the stream sent cannot seek.
    Returns the reference and the last layer's digest in the source."""
    ref = f"oci:{path}/layout:v1"
    built = write_image(ImageSpec(tuple(layers), compression=Algorithm.GZIP if gzipped
                                  else Algorithm.NONE), parse_image_name(ref))
    return ref, built.layers[-1].digest


@pytest.fixture
def plain_image(tmp_path: Path, big_layer: LayerTree) -> tuple[str, Digest]:
    """A small layer, then a big one that the faults below break (its upload is the second
    PATCH: the copies run one blob at a time so that the order is known)."""
    return _plain_image(tmp_path, [files_tree({"etc/motd": b"small\n"}), big_layer])


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Counter[Digest]:
    """How many times each blob of an ``oci:`` source is opened."""
    counts: Counter[Digest] = Counter()
    original = OCIImageSource.get_blob

    def get_blob(self: OCIImageSource, info: BlobInfo) -> tuple[BinaryIO, int]:
        assert info.digest is not None
        counts[info.digest] += 1
        return original(self, info)

    monkeypatch.setattr(OCIImageSource, "get_blob", get_blob)
    return counts


def _push(src: str, dest: str, policy: Path, retries: int = 3,
          chunk: int | None = None) -> CopyResult:
    return copy_image(parse_image_name(f"docker://{dest}"), parse_image_name(src),
                      CopyOptions(dest_ctx=_ctx(retries, chunk), signature_policy_path=policy,
                                  max_parallel=1))


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize(("gzipped", "chunk", "nth", "after", "late"), [
    # The small layer's upload is a PATCH too unless its digest is known (then one PUT).
    (False, None, 2, RESUME_WINDOW + 1024 * 1024, False),
    (True, None, 1, RESUME_WINDOW + 1024 * 1024, False),
    # 1 MiB chunks: the third of the big layer is cut; distribution drops the session.
    (False, 1024 * 1024, 4, 500_000, False),
    # A busy distribution writes the cut chunk only after answering the client's status
    # request: that said the offset before the chunk; the resumed PATCH finds the session
    # dropped (404 BLOB_UPLOAD_INVALID, "upload resumed at wrong offset").
    (False, 1024 * 1024, 4, 500_000, True),
], ids=["recompressed", "as-is", "chunked", "chunked-stale-status"])
def test_cut_upload_to_distribution_is_copied_again_bit_identically(
        distribution: RunningRegistry, tmp_path: Path, big_layer: LayerTree,
        opened: Counter[Digest], policy: Path, gzipped: bool, chunk: int | None, nth: int,
        after: int, late: bool) -> None:
    src, big = _plain_image(tmp_path, [files_tree({"etc/motd": b"small\n"}), big_layer],
                            gzipped=gzipped)
    repo = (f"resume-{'as-is' if gzipped else 'recompressed'}{'-chunked' if chunk else ''}"
            f"{'-late' if late else ''}")
    host, port = distribution.host.rsplit(":", 1)
    proxy = CuttingProxy((host, int(port)), after=after, nth=nth, late=late)
    try:
        cut = _push(src, f"{proxy.host}/{repo}/cut:v1", policy, chunk=chunk)
    finally:
        proxy.close()
    assert proxy.cuts == 1
    assert opened[big] == 2  # read again from the source: the client could not resume
    assert sum(opened.values()) == 4  # the small layer and the config: once each
    clean = _push(src, f"{distribution.host}/{repo}/clean:v1", policy)
    assert cut.digest == clean.digest
    raw = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--raw",
                          f"docker://{distribution.host}/{repo}/cut:v1"],
                         capture_output=True, check=True, timeout=60).stdout
    assert raw == cut.manifest == clean.manifest


def test_dropped_session_on_the_fake_is_copied_again_bit_identically(
        fake: tuple[Registry, str], plain_image: tuple[str, Digest],
        opened: Counter[Digest], policy: Path) -> None:
    registry, host = fake
    src, big = plain_image
    clean = _push(src, f"{host}/clean:v1", policy)
    opened.clear()
    drop = registry.faults.add(FaultRule(method="PATCH", nth=2, drop_after=0))
    gone = registry.faults.add(FaultRule.parse(f"{SESSION_GONE},nth=1"))
    cut = _push(src, f"{host}/cut:v1", policy)
    assert (drop.fired, gone.fired) == (1, 1)
    assert opened[big] == 2
    assert sum(opened.values()) == 4
    assert cut.digest == clean.digest


def test_retries_running_out_is_one_line_and_the_copy_is_not_started_over(
        fake: tuple[Registry, str], tmp_path: Path, big_layer: LayerTree,
        opened: Counter[Digest], policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry, host = fake
    src, big = _plain_image(tmp_path, [big_layer])
    registry.faults.add(FaultRule(method="PATCH", drop_after=0))
    registry.faults.add(FaultRule.parse(SESSION_GONE))
    code = main(["copy", "-q", "--policy", str(policy), "--dest-tls-verify=false",
                 "--retry-times", "1", "--retry-delay", "0", src, f"docker://{host}/spent:v1"])
    assert code == 125
    warning, *lines = capsys.readouterr().err.splitlines()
    assert warning.startswith("WARN Failed, retrying in 0s ... (1/1). Error: PATCH ")
    assert len(lines) == 1
    # The one retry went to resuming the first upload; the copy of the layer made again
    # from its source finds the budget spent and stops at its first break.
    assert re.fullmatch(r"Error: PATCH /v2/spent/blobs/uploads/\w+: connection to "
                        rf"{host} failed: connection reset by peer", lines[0])
    assert opened[big] == 2  # copy_with_retries did not start the whole copy over


class _BreaksOnce(DirReference):
    """A dir destination whose first blob upload breaks as a dropped session would, having
    read the whole stream and hashed it as *digest* (None: it did not tell)."""

    def __init__(self, path: str, digest: Digest | None) -> None:
        super().__init__(path)
        self.digest = digest
        self.asked: list[Digest | None] = []

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        reference = self

        class Destination(DirImageDestination):
            def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
                if is_config:
                    return super().put_blob(stream, info, is_config)
                reference.asked.append(info.digest)
                if len(reference.asked) == 1:
                    while stream.read(1 << 20):
                        pass
                    raise UploadInterruptedError("broke", 0, reference.digest)
                stored = super().put_blob(stream, info, is_config)
                if info.digest is not None and stored.digest != info.digest:
                    raise DigestMismatchError(info.digest, stored.digest or info.digest)
                return stored

        return Destination(self, LayerCompression.COMPRESS)  # as with --dest-compress


@pytest.mark.parametrize("first_digest_matches", [True, False])
def test_fresh_copy_must_hash_as_the_broken_one(tmp_path: Path, policy: Path,
                                                first_digest_matches: bool) -> None:
    src = f"oci:{tmp_path}/layout:v1"
    write_image(ImageSpec((files_tree({"a": b"one layer\n"}),), compression=Algorithm.NONE),
                parse_image_name(src))
    clean = copy_image(parse_image_name(f"dir:{tmp_path}/clean"), parse_image_name(src),
                       CopyOptions(compression=Algorithm.GZIP, signature_policy_path=policy,
                                   dest_ctx=SystemContext(dir_force_compress=True)))
    layer = parse_manifest(clean.manifest, clean.media_type).layers[0].digest
    dest = _BreaksOnce(str(tmp_path / "out"),
                       layer if first_digest_matches else Digest.from_bytes(b"other"))
    options = CopyOptions(compression=Algorithm.GZIP, signature_policy_path=policy,
                          dest_ctx=SystemContext(retry_times=1))
    if first_digest_matches:
        assert copy_image(dest, parse_image_name(src), options).digest == clean.digest
    else:
        with pytest.raises(DigestMismatchError):
            copy_image(dest, parse_image_name(src), options)
    assert dest.asked == [None, dest.digest]


def test_progress_counts_each_source_byte_once(tmp_path: Path) -> None:
    src = f"oci:{tmp_path}/layout:v1"
    built = write_image(ImageSpec((files_tree({"a": os.urandom(300_000)}),),
                                  compression=Algorithm.NONE), parse_image_name(src))
    layer = parse_manifest(built.manifest, built.media_type).layers[0]
    seen: list[int] = []
    with parse_image_name(src).new_image_source(SystemContext()) as source, \
            _BreaksOnce(str(tmp_path / "out"), None).new_image_destination(
                SystemContext()) as destination:
        copied = copy_blob(source, destination, layer, Algorithm.GZIP, level=None,
                           progress=seen.append, retries=1)
    assert sum(seen) == layer.size  # the second read is not counted again
    assert copied.descriptor.media_type == mt.OCI_LAYER_GZIP
