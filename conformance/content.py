"""Small, unique test content: blobs, configs and manifests of each type.

Every blob is random so that no two checks (or runs against a persistent registry) share
content by accident: a check that sees "already exists" would prove nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from harness.model import mediatype, schema1
from harness.model.digest import Digest


@dataclass(frozen=True)
class Blob:
    """Bytes with their digest and the media type a descriptor gives them."""

    data: bytes
    media_type: str = "application/octet-stream"
    algorithm: str = "sha256"

    @property
    def digest(self) -> Digest:
        return Digest.from_bytes(self.data, self.algorithm)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": str(self.digest),
                "size": len(self.data), **extra}


@dataclass(frozen=True)
class Manifest:
    """Manifest bytes exactly as pushed, its media type and the blobs it references."""

    data: bytes
    media_type: str
    blobs: tuple[Blob, ...] = ()
    children: tuple[Manifest, ...] = field(default=())

    @property
    def digest(self) -> Digest:
        """The digest a registry files it under (a signed schema1: that of its payload)."""
        if self.media_type == mediatype.DOCKER_V2S1_SIGNED_MANIFEST:
            return Digest.from_bytes(schema1.payload(self.data))
        return Digest.from_bytes(self.data)

    def descriptor(self, **extra: Any) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": str(self.digest),
                "size": len(self.data), **extra}


def random_blob(size: int = 64, media_type: str = "application/octet-stream",
                algorithm: str = "sha256") -> Blob:
    """A blob of *size* random bytes."""
    return Blob(os.urandom(size), media_type, algorithm)


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True).encode()


def config_blob(media_type: str = mediatype.OCI_CONFIG) -> Blob:
    """A minimal image config; the random label keeps it unique."""
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Labels": {"conformance.nonce": os.urandom(8).hex()}},
              "rootfs": {"type": "layers", "diff_ids": []}}
    return Blob(_json(config), media_type)


def oci_manifest(layers: int = 1, *, subject: Manifest | None = None,
                 artifact_type: str | None = None, padding: int = 0) -> Manifest:
    """An OCI image manifest with *layers* small layers (an artifact when artifact_type),
    grown by about *padding* bytes of annotation."""
    config = config_blob()
    blobs = [random_blob(48, mediatype.OCI_LAYER) for _ in range(layers)]
    body: dict[str, Any] = {"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
                            "config": config.descriptor(),
                            "layers": [b.descriptor() for b in blobs]}
    if artifact_type is not None:
        body["artifactType"] = artifact_type
    if subject is not None:
        body["subject"] = subject.descriptor()
    if padding:
        body["annotations"] = {"conformance.padding": "A" * padding}
    return Manifest(_json(body), mediatype.OCI_MANIFEST, (config, *blobs))


def artifact_manifest(artifact_type: str = "application/vnd.conformance.artifact") -> Manifest:
    """An OCI 1.1 artifact without layers: the empty config ``{}`` and an artifactType."""
    empty = Blob(b"{}", mediatype.OCI_EMPTY)
    body = {"schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
            "artifactType": artifact_type, "config": empty.descriptor(), "layers": [],
            "annotations": {"conformance.nonce": os.urandom(8).hex()}}
    return Manifest(_json(body), mediatype.OCI_MANIFEST, (empty,))


def docker_manifest(layers: int = 1) -> Manifest:
    """A Docker v2 schema 2 image manifest."""
    config = config_blob(mediatype.DOCKER_CONFIG)
    blobs = [random_blob(48, mediatype.DOCKER_LAYER) for _ in range(layers)]
    body = {"schemaVersion": 2, "mediaType": mediatype.DOCKER_V2S2_MANIFEST,
            "config": config.descriptor(), "layers": [b.descriptor() for b in blobs]}
    return Manifest(_json(body), mediatype.DOCKER_V2S2_MANIFEST, (config, *blobs))


def index(children: list[Manifest], media_type: str = mediatype.OCI_INDEX) -> Manifest:
    """An OCI index or Docker manifest list over *children* (one platform each)."""
    entries = [c.descriptor(platform={"architecture": f"arch{i}", "os": "linux"})
               for i, c in enumerate(children)]
    body = {"schemaVersion": 2, "mediaType": media_type, "manifests": entries}
    return Manifest(_json(body), media_type, (), tuple(children))


def schema1_payload(name: str, tag: str, layer: Blob) -> dict[str, Any]:
    """The unsigned body of a one-layer schema1 manifest for repository *name*."""
    v1 = {"id": os.urandom(32).hex(), "created": "2024-01-01T00:00:00Z",
          "container_config": {"Cmd": ["conformance"]}, "architecture": "amd64", "os": "linux"}
    return {"schemaVersion": 1, "name": name, "tag": tag, "architecture": "amd64",
            "fsLayers": [{"blobSum": str(layer.digest)}],
            "history": [{"v1Compatibility": json.dumps(v1, sort_keys=True)}]}


def schema1_manifest(name: str, tag: str) -> Manifest:
    """A signed Docker v2 schema 1 manifest (name and tag are part of its body)."""
    layer = random_blob(48, mediatype.DOCKER_LAYER_GZIP)
    signed = schema1.sign(_json(schema1_payload(name, tag, layer)))
    return Manifest(signed, mediatype.DOCKER_V2S1_SIGNED_MANIFEST, (layer,))


def badly_signed_schema1(name: str, tag: str) -> Manifest:
    """A schema1 manifest whose payload was changed after signing: the signature fails."""
    good = schema1_manifest(name, tag)
    tampered = good.data.replace(b'"architecture": "amd64"', b'"architecture": "arm64"', 1)
    return Manifest(tampered, good.media_type, good.blobs)
