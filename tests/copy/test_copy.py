"""copy_image between the local transports: content survives, types and compression are
what was asked, failures leave nothing behind, the report is containers/image's."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, cast

import pytest
import zstandard

from harness.copy.engine import CopyOptions, copy_image
from harness.copy.policy import PolicyRejectedError
from harness.model import mediatype as mt
from harness.model.compression import Algorithm
from harness.model.digest import Digest, DigestMismatchError
from harness.model.manifest import parse_manifest
from harness.pytest_plugin.images import (
    BuiltImage,
    ImageSpec,
    plain_layers,
    read_image,
    write_image,
)
from harness.pytest_plugin.trees import files_tree, layer_tar
from harness.transports.alltransports import parse_image_name
from harness.transports.directory import DirImageDestination, DirReference
from harness.transports.oci import OCIImageSource, OCILayout, OCIReference
from harness.transports.types import (
    BlobInfo,
    ImageDestination,
    ImageSource,
    ManifestTypeRejectedError,
    SystemContext,
)
from harness.util.errors import HarnessError

COMPRESSING_DIR = SystemContext(dir_force_compress=True)  # skopeo's --dest-compress


def _copy(src: str, dest: str, policy: Path, **kwargs: object) -> object:
    options = CopyOptions(signature_policy_path=policy, **kwargs)  # type: ignore[arg-type]
    return copy_image(parse_image_name(dest), parse_image_name(src), options)




def _config(ref: str) -> dict[str, object]:
    raw, media_type, blobs = read_image(parse_image_name(ref))
    config = parse_manifest(raw, media_type).config
    assert config is not None
    return json.loads(blobs[config.digest])  # type: ignore[no-any-return]




def test_round_trip_through_every_local_transport(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    chain = [f"dir:{tmp_path}/d", f"docker-archive:{tmp_path}/a.tar:example.com/rt:v1",
             f"oci-archive:{tmp_path}/o.tar:v2", f"oci:{tmp_path}/back:v3"]
    previous = src
    for ref in chain:
        _copy(previous, ref, policy)
        assert plain_layers(parse_image_name(ref)) == built.layer_tars(), ref
        previous = ref
    config = _config(previous)
    assert config["config"]["Cmd"] == ["/bin/busybox", "cat", "/etc/motd"]  # type: ignore[index]
    assert config["rootfs"]["diff_ids"] == [str(d) for d in built.diff_ids]  # type: ignore[index]


def test_unchanged_copy_keeps_the_manifest_bytes(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    result = _copy(src, f"dir:{tmp_path}/d", policy)
    assert result.manifest == built.manifest  # type: ignore[attr-defined]
    assert result.digest == Digest.from_bytes(built.manifest)  # type: ignore[attr-defined]
    assert (tmp_path / "d" / "manifest.json").read_bytes() == built.manifest


def test_report_lines_are_containers_image_ones(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    out = io.StringIO()
    _copy(src, f"oci:{tmp_path}/o:x", policy, report_writer=out)
    manifest = parse_manifest(built.manifest)
    assert manifest.config is not None
    assert out.getvalue().splitlines() == [
        "Getting image source signatures",
        *(f"Copying blob {d.digest}" for d in manifest.layers),
        f"Copying config {manifest.config.digest}",
        "Writing manifest to image destination",
        "Storing signatures",
    ]


def test_quiet_copy_reports_nothing(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    _copy(oci_image[0], f"dir:{tmp_path}/d", policy, report_writer=None)
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize(("algorithm", "media_type", "magic"), [
    (Algorithm.ZSTD, mt.OCI_LAYER_ZSTD, b"\x28\xb5\x2f\xfd"),
    (Algorithm.NONE, mt.OCI_LAYER, b""),
    (Algorithm.GZIP, mt.OCI_LAYER_GZIP, b"\x1f\x8b\x08"),
])
def test_compression_is_what_was_asked(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path,
        algorithm: Algorithm, media_type: str, magic: bytes) -> None:
    src, built = oci_image
    dest = f"oci:{tmp_path}/o:x"
    _copy(src, dest, policy, compression=algorithm)
    raw, _, blobs = read_image(parse_image_name(dest))
    layers = parse_manifest(raw).layers
    assert [d.media_type for d in layers] == [media_type] * 2
    assert all(blobs[d.digest].startswith(magic) for d in layers)
    assert plain_layers(parse_image_name(dest)) == built.layer_tars()


def test_zstd_layers_become_gzip_in_docker_formats(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    _copy(src, f"oci:{tmp_path}/z:x", policy, compression=Algorithm.ZSTD)
    _copy(f"oci:{tmp_path}/z:x", f"dir:{tmp_path}/d", policy,
          manifest_type=mt.DOCKER_V2S2_MANIFEST)
    raw, media_type, blobs = read_image(parse_image_name(f"dir:{tmp_path}/d"))
    assert media_type == mt.DOCKER_V2S2_MANIFEST
    layers = parse_manifest(raw).layers
    assert {d.media_type for d in layers} == {mt.DOCKER_LAYER_GZIP}
    assert [gzip.decompress(blobs[d.digest]) for d in layers] == built.layer_tars()


def test_zstd_cannot_be_forced_into_a_docker_format(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    """Where the destination compresses (dir: with --dest-compress); one that keeps the
    layers as they are never uses the algorithm, and takes the copy."""
    with pytest.raises(HarnessError, match="zstd-compressed layers is not defined"):
        _copy(oci_image[0], f"dir:{tmp_path}/d", policy, compression=Algorithm.ZSTD,
              manifest_type=mt.DOCKER_V2S2_MANIFEST, dest_ctx=COMPRESSING_DIR)
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["version"]  # nothing uploaded
    _copy(oci_image[0], f"dir:{tmp_path}/kept", policy, compression=Algorithm.ZSTD,
          manifest_type=mt.DOCKER_V2S2_MANIFEST)
    raw, _, _ = read_image(parse_image_name(f"dir:{tmp_path}/kept"))
    assert {d.media_type for d in parse_manifest(raw).layers} == {mt.DOCKER_LAYER_GZIP}


@pytest.mark.parametrize("forced", [mt.DOCKER_V2S2_MANIFEST, mt.DOCKER_V2S1_SIGNED_MANIFEST])
def test_forced_type_and_back_keeps_the_image(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path, forced: str) -> None:
    src, built = oci_image
    result = _copy(src, f"dir:{tmp_path}/d", policy, manifest_type=forced)
    assert result.media_type == forced  # type: ignore[attr-defined]
    _, media_type, _ = read_image(parse_image_name(f"dir:{tmp_path}/d"))
    assert media_type == forced
    _copy(f"dir:{tmp_path}/d", f"oci:{tmp_path}/o:x", policy)
    assert plain_layers(parse_image_name(f"oci:{tmp_path}/o:x")) == built.layer_tars()
    config = _config(f"oci:{tmp_path}/o:x")
    assert config["config"]["Labels"] == {"org.example.test": "yes"}  # type: ignore[index]
    assert config["rootfs"]["diff_ids"] == [str(d) for d in built.diff_ids]  # type: ignore[index]


def test_corrupt_source_blob_fails_and_names_nothing(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    layer = parse_manifest(built.manifest).layers[1]
    blob = tmp_path / "layout" / "blobs" / "sha256" / layer.digest.hex
    blob.chmod(0o644)
    blob.write_bytes(gzip.compress(b"tampered"))
    with pytest.raises(DigestMismatchError):
        _copy(src, f"oci:{tmp_path}/o:x", policy)
    assert not (tmp_path / "o" / "index.json").exists()


def test_policy_reject_stops_before_writing(
        oci_image: tuple[str, BuiltImage], tmp_path: Path) -> None:
    reject = tmp_path / "reject.json"
    reject.write_text('{"default": [{"type": "reject"}]}')
    with pytest.raises(PolicyRejectedError):
        _copy(oci_image[0], f"dir:{tmp_path}/d", reject)
    assert not (tmp_path / "d").exists()


def test_many_layers_in_parallel_keep_their_order(tmp_path: Path, policy: Path) -> None:
    layers = tuple(files_tree({f"f{i}": bytes([i]) * (1000 + i)}) for i in range(9))
    built = write_image(ImageSpec(layers), parse_image_name(f"oci:{tmp_path}/many:v1"))
    _copy(f"oci:{tmp_path}/many:v1", f"dir:{tmp_path}/d", policy, compression=Algorithm.ZSTD)
    assert plain_layers(parse_image_name(f"dir:{tmp_path}/d")) == built.layer_tars()


def test_duplicate_layers_are_copied_once(tmp_path: Path, policy: Path) -> None:
    layer = files_tree({"same": b"same"})
    write_image(ImageSpec((layer, layer)), parse_image_name(f"oci:{tmp_path}/dup:v1"))
    out = io.StringIO()
    _copy(f"oci:{tmp_path}/dup:v1", f"dir:{tmp_path}/d", policy, report_writer=out)
    # One report line per layer, as skopeo 1.9 prints for this image; one copy.
    lines = [x for x in out.getvalue().splitlines() if x.startswith("Copying blob")]
    assert len(lines) == 2 and lines[0] == lines[1]
    assert plain_layers(parse_image_name(f"dir:{tmp_path}/d")) == [layer_tar(layer)] * 2


class _PickyDestination(DirImageDestination):
    """A dir destination that refuses OCI manifests the way a registry does."""

    def supported_manifest_mime_types(self) -> list[str]:
        return [mt.OCI_MANIFEST, mt.DOCKER_V2S2_MANIFEST]

    def put_manifest(self, manifest: bytes, mime_type: str,
                     instance: Digest | None = None) -> None:
        if mime_type == mt.OCI_MANIFEST:
            raise ManifestTypeRejectedError("manifest invalid")
        super().put_manifest(manifest, mime_type, instance)


class _PickyReference(DirReference):
    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        return _PickyDestination(self)


def test_manifest_invalid_falls_back_to_the_next_type(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    dest = _PickyReference(str(tmp_path / "d"))
    result = copy_image(dest, parse_image_name(src),
                        CopyOptions(signature_policy_path=policy,
                                    compression=Algorithm.GZIP))
    assert result.media_type == mt.DOCKER_V2S2_MANIFEST
    _, media_type, _ = read_image(parse_image_name(f"dir:{tmp_path}/d"))
    assert media_type == mt.DOCKER_V2S2_MANIFEST
    assert plain_layers(parse_image_name(f"dir:{tmp_path}/d")) == built.layer_tars()


def test_index_source_copies_this_platform(tmp_path: Path, policy: Path) -> None:
    amd = write_image(ImageSpec((files_tree({"a": b"amd64"}),)),
                      parse_image_name(f"oci:{tmp_path}/l:amd"))
    arm = write_image(ImageSpec((files_tree({"a": b"arm64"}),)),
                      parse_image_name(f"oci:{tmp_path}/l:arm"))
    index = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "digest": str(Digest.from_bytes(m.manifest)),
         "size": len(m.manifest), "platform": {"architecture": arch, "os": "linux"}}
        for m, arch in ((arm, "arm64"), (amd, "amd64"))]}).encode()
    with parse_image_name(f"oci:{tmp_path}/l:multi").new_image_destination(
            SystemContext()) as dest:
        dest.put_blob(io.BytesIO(index), _info(index), False)
        dest.put_manifest(index, mt.OCI_INDEX)
        dest.publish()
    _copy(f"oci:{tmp_path}/l:multi", f"dir:{tmp_path}/d", policy)
    assert (tmp_path / "d" / "manifest.json").read_bytes() == amd.manifest


def _info(data: bytes) -> BlobInfo:
    return BlobInfo(Digest.from_bytes(data), len(data))


def test_zstd_source_decompresses_into_docker_archive(
        tmp_path: Path, policy: Path) -> None:
    tree = files_tree({"z": b"zstd layer"})
    layer = layer_tar(tree)
    blob = zstandard.ZstdCompressor().compress(layer)
    assert isinstance(blob, bytes)
    write_image(ImageSpec((tree,), compression=Algorithm.NONE),
                parse_image_name(f"oci:{tmp_path}/z:v1"))
    _copy(f"oci:{tmp_path}/z:v1", f"oci:{tmp_path}/zz:v1", policy, compression=Algorithm.ZSTD)
    _copy(f"oci:{tmp_path}/zz:v1", f"docker-archive:{tmp_path}/a.tar", policy)
    assert plain_layers(parse_image_name(f"docker-archive:{tmp_path}/a.tar")) == [layer]


def test_signatures_travel_between_dirs_or_are_refused(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    _copy(oci_image[0], f"dir:{tmp_path}/signed", policy)
    (tmp_path / "signed" / "signature-1").write_bytes(b"not really a signature")
    _copy(f"dir:{tmp_path}/signed", f"dir:{tmp_path}/copy", policy)
    assert (tmp_path / "copy" / "signature-1").read_bytes() == b"not really a signature"
    with pytest.raises(HarnessError, match="cannot store the source's 1 signature"):
        _copy(f"dir:{tmp_path}/signed", f"oci:{tmp_path}/o:x", policy)
    _copy(f"dir:{tmp_path}/signed", f"oci:{tmp_path}/o:x", policy, remove_signatures=True)
    assert (tmp_path / "o" / "index.json").exists()


def test_unsigned_schema1_request_is_written_signed_and_reported_so(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    result = _copy(oci_image[0], f"dir:{tmp_path}/d", policy,
                   manifest_type=mt.DOCKER_V2S1_MANIFEST)
    assert result.media_type == mt.DOCKER_V2S1_SIGNED_MANIFEST  # type: ignore[attr-defined]
    _, media_type, _ = read_image(parse_image_name(f"dir:{tmp_path}/d"))
    assert media_type == mt.DOCKER_V2S1_SIGNED_MANIFEST


class _CountingSource(OCIImageSource):
    """Counts blob opens and bytes read, to prove each layer is read exactly once."""

    opens: ClassVar[Counter[Digest]] = Counter()
    bytes_read: ClassVar[Counter[Digest]] = Counter()

    def get_blob(self, info: BlobInfo) -> tuple[BinaryIO, int]:
        stream, size = super().get_blob(info)
        assert info.digest is not None
        digest = info.digest
        self.opens[digest] += 1
        counts = self.bytes_read

        class _Reader(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                data = stream.read(len(buffer))
                buffer[:len(data)] = data
                counts[digest] += len(data)
                return len(data)

            def close(self) -> None:
                stream.close()
                super().close()

        return cast(BinaryIO, _Reader()), size


class _CountingReference(OCIReference):
    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return _CountingSource(self, OCILayout(self.resolved), self.image)


def test_each_layer_is_read_once_even_when_recompressed(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    built = oci_image[1]
    _CountingSource.opens.clear()
    _CountingSource.bytes_read.clear()
    copy_image(parse_image_name(f"dir:{tmp_path}/d"),
               _CountingReference(str(tmp_path / "layout"), "v1"),
               CopyOptions(signature_policy_path=policy, compression=Algorithm.ZSTD))
    layers = parse_manifest(built.manifest).layers
    assert {d.digest: _CountingSource.opens[d.digest] for d in layers} == {
        d.digest: 1 for d in layers}
    assert {d.digest: _CountingSource.bytes_read[d.digest] for d in layers} == {
        d.digest: d.size for d in layers}


class _ConcurrencyProbe(DirImageDestination):
    """Records how many put_blob calls run at once; the first six meet at a barrier,
    which only a destination driven by six threads can pass."""

    thread_safe = True
    barrier: ClassVar[threading.Barrier]
    lock = threading.Lock()
    running = 0
    calls = 0
    peak = 0

    def has_thread_safe_put_blob(self) -> bool:
        return self.thread_safe

    def peak_allowed(self) -> bool:
        return self.thread_safe and _ParallelSource.thread_safe

    def put_blob(self, stream: BinaryIO, info: BlobInfo, is_config: bool) -> BlobInfo:
        with self.lock:
            type(self).running += 1
            type(self).calls += 1
            type(self).peak = max(type(self).peak, type(self).running)
            first_six = type(self).calls <= 6
        try:
            if self.peak_allowed() and first_six:
                with contextlib.suppress(threading.BrokenBarrierError):
                    self.barrier.wait(timeout=30)
            return super().put_blob(stream, info, is_config)
        finally:
            with self.lock:
                type(self).running -= 1


class _ProbeReference(DirReference):
    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        return _ConcurrencyProbe(self)


class _ParallelSource(OCIImageSource):
    """An OCI layout source that says, as *thread_safe* tells, that it takes concurrent
    get_blob calls (containers/image's oci source does not)."""

    thread_safe = True

    def has_thread_safe_get_blob(self) -> bool:
        return self.thread_safe


class _ParallelReference(OCIReference):
    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return _ParallelSource(self, OCILayout(self.resolved), self.image)


@pytest.mark.parametrize(("source_safe", "dest_safe", "peak"),
                         [(True, True, 6), (False, True, 1), (True, False, 1)])
def test_up_to_six_blobs_at_once_only_where_allowed(
        tmp_path: Path, policy: Path, source_safe: bool, dest_safe: bool, peak: int) -> None:
    """In parallel only when the source and the destination both allow it, as
    containers/image 5.23 (copy.go: HasThreadSafePutBlob && HasThreadSafeGetBlob)."""
    layers = tuple(files_tree({f"f{i}": bytes([i]) * 5000}) for i in range(9))
    built = write_image(ImageSpec(layers), parse_image_name(f"oci:{tmp_path}/many:v1"))
    _ParallelSource.thread_safe = source_safe
    _ConcurrencyProbe.thread_safe = dest_safe
    _ConcurrencyProbe.barrier = threading.Barrier(6)
    _ConcurrencyProbe.peak = _ConcurrencyProbe.calls = 0
    copy_image(_ProbeReference(str(tmp_path / "d")),
               _ParallelReference(str(tmp_path / "many"), "v1"),
               CopyOptions(signature_policy_path=policy))
    assert _ConcurrencyProbe.peak == peak
    assert not _ConcurrencyProbe.barrier.broken
    assert plain_layers(parse_image_name(f"dir:{tmp_path}/d")) == built.layer_tars()


def test_zstd_from_a_schema2_source_writes_oci(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    _copy(src, f"dir:{tmp_path}/v2s2", policy, manifest_type=mt.DOCKER_V2S2_MANIFEST)
    result = _copy(f"dir:{tmp_path}/v2s2", f"dir:{tmp_path}/z", policy,
                   compression=Algorithm.ZSTD, dest_ctx=COMPRESSING_DIR)
    assert result.media_type == mt.OCI_MANIFEST  # type: ignore[attr-defined]
    raw, _, _ = read_image(parse_image_name(f"dir:{tmp_path}/z"))
    assert {d.media_type for d in parse_manifest(raw).layers} == {mt.OCI_LAYER_ZSTD}
    assert plain_layers(parse_image_name(f"dir:{tmp_path}/z")) == built.layer_tars()


def test_zstd_is_not_used_where_the_destination_decompresses(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    """A docker-archive: takes uncompressed layers whatever algorithm was asked, as with
    skopeo 1.9 (tests/copy/test_copy_compression_peers.py compares the bytes)."""
    src, built = oci_image
    _copy(src, f"docker-archive:{tmp_path}/a.tar", policy, compression=Algorithm.ZSTD)
    raw, media_type, blobs = read_image(parse_image_name(f"docker-archive:{tmp_path}/a.tar"))
    assert media_type == mt.DOCKER_V2S2_MANIFEST
    layers = parse_manifest(raw).layers
    assert {d.media_type for d in layers} == {mt.DOCKER_LAYER}
    assert [blobs[d.digest] for d in layers] == built.layer_tars()
