"""The store's records: layers, images and containers, and their JSON form.

A record is plain data; the rules that tie records together (names are unique, a
layer's parent exists, an image in use cannot go) live in :mod:`harness.store.store`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.model.digest import Digest
from harness.util.errors import HarnessError


def layer_id(parent: str | None, blob: Digest) -> str:
    """A layer's ID: a hash of its parent's ID and its blob digest, so the same blob on
    the same base is the same layer (reused, never stored twice; commits reproducible)."""
    return hashlib.sha256(f"{parent or ''} {blob}".encode()).hexdigest()


@dataclass
class Layer:
    """One filesystem diff on top of *parent*.

    ``diff_digest``/``diff_size`` describe the uncompressed tar (the diffID);
    ``blob_digest``/``blob_size`` the stored blob, which is the same tar compressed with
    ``compression`` ("none", "gzip" or "zstd"). With no compression the two are equal.
    """

    id: str
    parent: str | None
    diff_digest: str
    diff_size: int
    blob_digest: str
    blob_size: int
    compression: str = "none"

    @property
    def blob(self) -> Digest:
        return Digest.parse(self.blob_digest)


@dataclass
class Image:
    """An image: its ID is the hex of its config digest (as in containers/storage)."""

    id: str
    names: list[str]
    top_layer: str | None
    manifest_digest: str
    manifest_type: str
    config_digest: str
    created: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def digest(self) -> Digest:
        """The manifest digest (what ``inspect`` shows as ``Digest``)."""
        return Digest.parse(self.manifest_digest)


@dataclass
class Container:
    """A working container: an image (or scratch) plus a read-write directory.

    ``metadata`` is opaque to the store; the builder keeps its state there.
    """

    id: str
    name: str
    image_id: str | None
    top_layer: str | None
    created: str = ""
    metadata: str = ""


@dataclass
class Metadata:
    """Everything the store knows except blob contents, written as one atomic file."""

    layers: dict[str, Layer] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)
    containers: dict[str, Container] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        doc = {
            "layers": [asdict(x) for x in self.layers.values()],
            "images": [asdict(x) for x in self.images.values()],
            "containers": [asdict(x) for x in self.containers.values()],
        }
        return json.dumps(doc, indent=1, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Metadata:
        """Parse what :meth:`to_bytes` wrote; anything else is a one-line error."""
        try:
            doc: dict[str, list[dict[str, Any]]] = json.loads(data) if data else {}
            return cls(
                layers={x["id"]: Layer(**x) for x in doc.get("layers", [])},
                images={x["id"]: Image(**x) for x in doc.get("images", [])},
                containers={x["id"]: Container(**x) for x in doc.get("containers", [])},
            )
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise HarnessError(f"store metadata is unreadable: {exc}") from None
