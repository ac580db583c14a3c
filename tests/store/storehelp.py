"""Test helper: record a small image in a store without the builder."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from harness.model import mediatype
from harness.model.descriptor import Descriptor
from harness.model.manifest import OCIManifest
from harness.store.diff import diff_stream
from harness.store.records import Image, Layer
from harness.store.store import Store


def make_image(store: Store, files: dict[str, bytes], names: list[str],
               parent: Layer | None = None, tmp: Path | None = None) -> tuple[Image, Layer]:
    """Record an image whose one new layer holds *files* on top of *parent*."""
    with tempfile.TemporaryDirectory(dir=tmp) as work:
        root = Path(work)
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        digest, size = store.put_blob(diff_stream(root, {}, timestamp=0))
    parent_id = parent.id if parent else None
    layer = Layer(f"{parent_id or ''}{digest.hex}"[-64:], parent_id, str(digest), size,
                  str(digest), size)
    chain = [*(store.layer_chain(parent.id) if parent else []), layer]
    config = json.dumps({"rootfs": {"type": "layers",
                                    "diff_ids": [x.diff_digest for x in chain]},
                         "names": names}).encode()
    config_digest = store.put_bytes(config)
    manifest = OCIManifest(
        config=Descriptor(mediatype.OCI_CONFIG, config_digest, len(config)),
        layers=[Descriptor(mediatype.OCI_LAYER, x.blob, x.blob_size) for x in chain],
    ).to_bytes()
    manifest_digest = store.put_bytes(manifest)
    image = Image(config_digest.hex, list(names), layer.id, str(manifest_digest),
                  mediatype.OCI_MANIFEST, str(config_digest))
    return store.add_image(image, [layer]), layer
