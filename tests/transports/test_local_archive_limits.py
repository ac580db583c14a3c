"""A docker-archive is untrusted input: its JSON members are read whole, so they are capped."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from harness.model.limits import MAX_CONFIG_SIZE as MAX_JSON_MEMBER
from harness.transports.alltransports import parse_image_name
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError


def _archive(path: Path, manifest: bytes) -> None:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest))


def test_an_oversized_manifest_json_is_refused_unread(tmp_path: Path) -> None:
    archive = tmp_path / "huge.tar"
    _archive(archive, b" " * (MAX_JSON_MEMBER + 1))
    ref = parse_image_name(f"docker-archive:{archive}")
    with pytest.raises(HarnessError, match=r"manifest\.json is 4194305 bytes, over the "
                                           r"4194304-byte limit"):
        ref.new_image_source(SystemContext()).get_manifest()


def test_a_manifest_json_at_the_limit_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "spaces.tar"
    _archive(archive, b"[]" + b" " * (MAX_JSON_MEMBER - 2))
    ref = parse_image_name(f"docker-archive:{archive}")
    with pytest.raises(HarnessError, match=r"manifest\.json must be a non-empty list"):
        ref.new_image_source(SystemContext()).get_manifest()


def test_an_oci_layout_manifest_over_the_limit_is_refused(tmp_path: Path) -> None:
    import json  # noqa: PLC0415

    from harness.model.digest import Digest  # noqa: PLC0415
    from harness.model.limits import MAX_MANIFEST_SIZE  # noqa: PLC0415

    body = b" " * (MAX_MANIFEST_SIZE + 1)
    digest = Digest.from_bytes(body)
    (tmp_path / "blobs" / "sha256").mkdir(parents=True)
    (tmp_path / "blobs" / "sha256" / digest.hex).write_bytes(body)
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (tmp_path / "index.json").write_text(json.dumps({
        "schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": str(digest),
            "size": len(body), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
    ref = parse_image_name(f"oci:{tmp_path}:v1")
    with pytest.raises(HarnessError, match=f"manifest {digest} is over the 4194304-byte limit"):
        ref.new_image_source(SystemContext()).get_manifest()
