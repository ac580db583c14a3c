"""Small manifests and configs for the model's conversion tests: an OCI image of two
gzip layers with one empty history entry, and the same image as signed schema1."""

from __future__ import annotations

from typing import Any

from harness.model import gojson, mediatype
from harness.model.convert import convert_manifest
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.manifest import OCIManifest, Schema1Manifest, parse_manifest

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
