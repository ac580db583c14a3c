"""A tiny real OCI layout (gzip layers, config with history) that skopeo and umoci read.

Imported by the model tests as ``tests._support.model_layout``.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from harness.model import gojson, mediatype
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.manifest import OCIIndex, OCIManifest


@dataclass(frozen=True)
class Layout:
    path: Path
    tag: str
    manifest: OCIManifest
    config: bytes
    diff_ids: list[Digest]


def _tar(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        info.mtime = 1_700_000_000
        tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _write_blob(root: Path, data: bytes) -> Digest:
    digest = Digest.from_bytes(data)
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / digest.hex).write_bytes(data)
    return digest


def make_layout(root: Path, tag: str = "v1", layers: int = 2,
                empty_history: bool = True) -> Layout:
    """An OCI layout with *layers* gzip layers and, optionally, one empty_layer history entry."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descriptors: list[Descriptor] = []
    diff_ids: list[Digest] = []
    history: list[dict[str, object]] = []
    for n in range(layers):
        tar = _tar(f"file{n}.txt", f"layer {n}\n".encode() * (n + 1))
        diff_ids.append(Digest.from_bytes(tar))
        blob = gzip.compress(tar, mtime=0)
        descriptors.append(Descriptor(mediatype.OCI_LAYER_GZIP, _write_blob(root, blob), len(blob)))
        history.append({"created": f"2024-01-0{n + 1}T00:00:00Z",
                        "created_by": f"/bin/sh -c echo {n}", "author": "model tests"})
        if empty_history and n == 0:
            history.append({"created": "2024-01-01T12:00:00Z",
                            "created_by": "/bin/sh -c #(nop) ENV A=b", "empty_layer": True})
    config = gojson.dumps({
        "created": "2024-01-09T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"], "Labels": {"x": "y"}},
        "rootfs": {"type": "layers", "diff_ids": [str(d) for d in diff_ids]},
        "history": history,
    })
    config_descriptor = Descriptor(mediatype.OCI_CONFIG, _write_blob(root, config), len(config))
    manifest = OCIManifest(config=config_descriptor, layers=descriptors)
    data = manifest.to_bytes()
    entry = Descriptor(mediatype.OCI_MANIFEST, _write_blob(root, data), len(data),
                       annotations={"org.opencontainers.image.ref.name": tag})
    (root / "index.json").write_bytes(OCIIndex(manifests=[entry]).to_bytes())
    return Layout(root, tag, manifest, config, diff_ids)

