"""Small manifests and configs for the model's conversion tests: an OCI image of two
gzip layers with one empty history entry, and the same image as signed schema1; and
:func:`history_spec`, an image of that shape with real layers, for the peers."""

from __future__ import annotations

from typing import Any

from harness.model import gojson, mediatype
from harness.model.config import HistoryEntry
from harness.model.convert import convert_manifest
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.manifest import OCIManifest, Schema1Manifest, parse_manifest
from harness.pytest_plugin.images import ImageSpec
from harness.pytest_plugin.trees import files_tree

S1 = mediatype.DOCKER_V2S1_SIGNED_MANIFEST
V2S2 = mediatype.DOCKER_V2S2_MANIFEST
OCI = mediatype.OCI_MANIFEST


def digest(n: int) -> Digest:
    return Digest("sha256", f"{n:064x}")


def layer(n: int, media_type: str = mediatype.OCI_LAYER_GZIP) -> Descriptor:
    return Descriptor(media_type, digest(n), 100 + n)


def config_bytes(history: list[dict[str, Any]], layers: int, **extra: Any) -> bytes:
    return gojson.dumps({
        "created": "2024-01-09T00:00:00Z", "architecture": "arm64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [str(digest(900 + i)) for i in range(layers)]},
        "history": history, **extra,
    })


def oci_image(layers: list[Descriptor], config: bytes) -> bytes:
    return OCIManifest(
        config=Descriptor(mediatype.OCI_CONFIG, Digest.from_bytes(config), len(config)),
        layers=layers,
    ).to_bytes()


HISTORY: list[dict[str, Any]] = [
    {"created": "2024-01-01T00:00:00Z", "created_by": "ADD a", "author": "me"},
    {"created": "2024-01-02T00:00:00.500000000Z", "created_by": "ENV x", "empty_layer": True},
    {"created": "2024-01-03T00:00:00Z", "created_by": "RUN b", "comment": "c"},
]
CONFIG = config_bytes(HISTORY, 2)
LAYERS = [layer(1), layer(2)]
MANIFEST = oci_image(LAYERS, CONFIG)


def schema1_of(manifest: bytes = MANIFEST, config: bytes = CONFIG,
               **kwargs: Any) -> tuple[Schema1Manifest, bytes]:
    out = convert_manifest(manifest, OCI, S1, config=config, name="lib/app", tag="v1", **kwargs)
    parsed = parse_manifest(out.manifest, out.media_type)
    assert isinstance(parsed, Schema1Manifest)
    return parsed, out.manifest


def history_spec(*more: HistoryEntry) -> ImageSpec:
    """Two gzip layers of text files, an ``empty_layer`` step between their steps (and
    *more* steps after them), ``Cmd`` ``/bin/sh`` and the label ``x=y``: built with the
    plugin's kit (``write_image(history_spec(), reference)``) for skopeo, umoci, docker."""
    layers = tuple(files_tree({f"file{n}.txt": f"layer {n}\n".encode() * (n + 1)})
                   for n in range(2))
    history = (HistoryEntry("2024-01-01T00:00:00Z", "/bin/sh -c echo 0", "model tests"),
               HistoryEntry("2024-01-01T12:00:00Z", "/bin/sh -c #(nop) ENV A=b",
                            empty_layer=True),
               HistoryEntry("2024-01-02T00:00:00Z", "/bin/sh -c echo 1", "model tests"), *more)
    return ImageSpec(layers, run={"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"],
                                  "Labels": {"x": "y"}},
                     created="2024-01-09T00:00:00Z", history=history)
