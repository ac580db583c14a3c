"""An ``oci-archive:`` source writes only what its layout declares: members nothing names
are never extracted (a small compressed archive of gigabytes of zeros writes nothing),
a named blob whose size is not the declared one is refused before it is written
(hypothesis: hostile archives; a fixed zip bomb)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.model import mediatype
from harness.model.digest import Digest
from harness.transports.alltransports import parse_image_name
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError

CTX = SystemContext()
BOMB = 64 << 20
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
LAYER = b"layer bytes"


def _descriptor(media_type: str, data: bytes, size: int | None = None) -> dict[str, object]:
    return {"mediaType": media_type, "digest": str(Digest.from_bytes(data)),
            "size": len(data) if size is None else size}


def _image(layer_size: int | None = None) -> dict[str, bytes]:
    """The members of a one-layer layout (the layer's declared size may lie)."""
    manifest = json.dumps({"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
                           "config": _descriptor(mediatype.OCI_CONFIG, CONFIG),
                           "layers": [_descriptor(mediatype.OCI_LAYER, LAYER,
                                                  layer_size)]}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": [
        {**_descriptor(mediatype.OCI_MANIFEST, manifest),
         "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}).encode()
    return {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index,
            **{f"blobs/sha256/{Digest.from_bytes(b).hex}": b for b in (manifest, CONFIG, LAYER)}}


def _zeros(size: int) -> Iterator[bytes]:
    while size > 0:
        piece = min(size, 1 << 20)
        size -= piece
        yield bytes(piece)


class _ZeroStream(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self._pieces = _zeros(size)
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if not self._rest:
            self._rest = next(self._pieces, b"")
        count = min(len(buffer), len(self._rest))
        buffer[:count] = self._rest[:count]
        self._rest = self._rest[count:]
        return count


def _pack(path: Path, members: list[tuple[str, bytes | int]], compression: str) -> Path:
    """Write *members* (bytes, or a count of zeros) in order into a tar at *path*."""
    with tarfile.open(path, f"w:{compression}") as tar:
        for name, content in members:
            info = tarfile.TarInfo(name)
            info.size = content if isinstance(content, int) else len(content)
            tar.addfile(info, io.BufferedReader(_ZeroStream(content))
                        if isinstance(content, int) else io.BytesIO(content))
    return path


def _zero_digest(size: int) -> str:
    digester = hashlib.sha256()
    for piece in _zeros(size):
        digester.update(piece)
    return digester.hexdigest()


@pytest.fixture
def tmpdir_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Extractions go to a folder of the test's (``$TMPDIR``), to be measured."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def _written(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_an_unnamed_zero_bomb_is_not_extracted(tmp_path: Path, tmpdir_here: Path) -> None:
    members: list[tuple[str, bytes | int]] = list(_image().items())
    members.insert(0, (f"blobs/sha256/{_zero_digest(BOMB)}", BOMB))
    archive = _pack(tmp_path / "bomb.tar.gz", members, "gz")
    assert archive.stat().st_size < BOMB // 100
    with parse_image_name(f"oci-archive:{archive}:v1").new_image_source(CTX) as source:
        manifest, _ = source.get_manifest()
        declared = sum(len(v) for k, v in _image().items())
        assert _written(tmpdir_here) <= declared
        assert json.loads(manifest)["layers"][0]["size"] == len(LAYER)
    assert _written(tmpdir_here) == 0


def test_a_named_blob_longer_than_declared_is_refused_unwritten(
        tmp_path: Path, tmpdir_here: Path) -> None:
    image = _image(layer_size=1000)
    archive = _pack(tmp_path / "lie.tar", list(image.items()), "")
    layer_name = f"blobs/sha256/{Digest.from_bytes(LAYER).hex}"
    with pytest.raises(HarnessError, match=f"{layer_name} is {len(LAYER)} bytes, the "
                                           "layout declares 1000"):
        parse_image_name(f"oci-archive:{archive}:v1").new_image_source(CTX)
    assert _written(tmpdir_here) == 0


NAMES = st.sampled_from(["../outside", "/abs/file", "blobs/sha256/zz", "blobs/x",
                         f"blobs/sha256/{'0' * 64}", "index.json.bak", "sub/index.json"])


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.lists(st.tuples(NAMES, st.integers(0, 1 << 16)), max_size=4),
       lie=st.sampled_from([None, 0, 1, len(LAYER) + 1, 1 << 30]),
       compression=st.sampled_from(["", "gz", "xz"]))
def test_hostile_archives_write_at_most_what_is_declared(
        tmp_path: Path, tmpdir_here: Path, extra: list[tuple[str, int]], lie: int | None,
        compression: str) -> None:
    image = _image(layer_size=lie)
    members: list[tuple[str, bytes | int]] = [*extra, *image.items()]
    archive = _pack(tmp_path / "hostile.tar", members, compression)
    declared = sum(len(v) for v in image.values())
    outside = set(tmp_path.rglob("*"))
    try:
        with parse_image_name(f"oci-archive:{archive}:v1").new_image_source(CTX):
            assert lie is None or lie == len(LAYER)
            assert _written(tmpdir_here) <= declared
    except HarnessError as exc:
        assert lie is not None and lie != len(LAYER)
        assert "\n" not in str(exc)
    assert set(tmp_path.rglob("*")) == outside
    assert _written(tmpdir_here) == 0
