"""Manifest conversions between OCI, Docker schema2 and Docker schema1 (containers/image rules).

The copy engine's entry point is :func:`convert_manifest`; it returns a
:class:`Conversion`: the new manifest bytes and media type, the new config blob when the
config had to be re-encoded, and extra blobs to upload first (schema1's gzipped empty
layer). Conversions never read layers, so the caller supplies what only a copy can know:

1. ``needs = layers_needing_recompression(manifest, source_type, target_type)`` (in
   :mod:`harness.model.layertypes`, which every copy loads, unlike this module) lists the
   layers whose compression the target cannot express (zstd in Docker formats). Copy
   them recompressed to gzip, or stop: :func:`convert_manifest` raises
   :class:`~harness.model.compression.CompressionError` naming such a layer.
2. ``convert_manifest(..., layers=copied)`` with the descriptors of the layers as copied
   (new digests, sizes and media types); for a schema1 source also ``diff_ids``, because
   schema1 records neither sizes nor uncompressed digests.

Rules (reference.md):

- OCI -> v2s2: only media types change; the config blob is reused as is.
- v2s2 -> OCI: the config is re-encoded as an OCI config (Docker-only fields drop).
- v2s2/OCI -> schema1 (signed): one fsLayers/history pair per config history entry,
  newest first; ``empty_layer`` entries point at the gzipped empty tar;
  ``v1ID = sha256hex(blobHex + " " + parentID)``; the top entry is the whole config minus
  rootfs/history plus id/parent. ``name`` is the repository path and ``tag`` the tag of
  the destination.
- schema1 -> v2s2: the history is first checked as containers/image's
  ``fixManifestLayers`` does (parent chain, repeated IDs); throwaway entries are skipped;
  the config is history[0] minus id/parent/... plus rootfs/history. schema1 -> OCI goes
  through v2s2.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harness.model import gojson, mediatype, schema1
from harness.model.config import (
    GO_ZERO_TIME,
    ConfigError,
    DockerConfig,
    HistoryEntry,
    parse_config,
)
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.jsonfields import FieldError, get_bool, get_object, get_str, get_str_list
from harness.model.layertypes import converted_media_type
from harness.model.manifest import (
    DockerManifest,
    ManifestError,
    OCIManifest,
    Schema1Manifest,
    parse_manifest,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

OCI = mediatype.OCI_MANIFEST
V2S2 = mediatype.DOCKER_V2S2_MANIFEST
EMPTY_LAYER = Descriptor(
    mediatype.DOCKER_LAYER_GZIP, schema1.EMPTY_LAYER_DIGEST, len(schema1.EMPTY_LAYER_GZIP)
)
_FRACTION = re.compile(r"\.(\d+)")
# Keys of a schema1 v1Compatibility object that are not part of an image config.
_V1_ONLY_KEYS = ("id", "parent", "parent_id", "layer_id", "throwaway", "Size")


@dataclass(frozen=True)
class Conversion:
    """The result of a conversion: what to write, and what to upload before it."""

    manifest: bytes
    media_type: str
    config: bytes | None = None  # the re-encoded config blob; None when reused unchanged
    extra_blobs: tuple[tuple[Descriptor, bytes], ...] = ()


def _is_schema1(media_type: str) -> bool:
    return media_type in mediatype.SCHEMA1


def _image_manifest(manifest_bytes: bytes, source_type: str) -> OCIManifest | DockerManifest:
    manifest = parse_manifest(manifest_bytes, source_type)
    if not isinstance(manifest, OCIManifest | DockerManifest):
        raise ManifestError(f"cannot convert a {source_type}: only image manifests convert")
    if isinstance(manifest, OCIManifest) and manifest.config.media_type != mediatype.OCI_CONFIG:
        raise ManifestError(
            f"cannot convert an OCI artifact (config {manifest.config.media_type!r}) "
            "to another manifest format"
        )
    return manifest


def _retyped(layers: Sequence[Descriptor], oci: bool) -> list[Descriptor]:
    return [
        Descriptor(converted_media_type(layer, i, oci=oci), layer.digest, layer.size,
                   urls=layer.urls, annotations=dict(layer.annotations) if oci else {})
        for i, layer in enumerate(layers)
    ]


def _to_v2s2(manifest: OCIManifest | DockerManifest,
             layers: Sequence[Descriptor]) -> Conversion:
    config = replace(manifest.config, media_type=mediatype.DOCKER_CONFIG, annotations={})
    out = DockerManifest(config=config, layers=_retyped(layers, oci=False))
    return Conversion(out.to_bytes(), V2S2)


def _to_oci(manifest: OCIManifest | DockerManifest, layers: Sequence[Descriptor],
            config: bytes | None) -> Conversion:
    new_config: bytes | None = None
    config_descriptor = replace(manifest.config, media_type=mediatype.OCI_CONFIG)
    if isinstance(manifest, DockerManifest):
        new_config = DockerConfig.from_bytes(_need_config(config)).to_oci().to_bytes()
        config_descriptor = Descriptor(
            mediatype.OCI_CONFIG, Digest.from_bytes(new_config), len(new_config)
        )
    out = OCIManifest(config=config_descriptor, layers=_retyped(layers, oci=True))
    return Conversion(out.to_bytes(), OCI, config=new_config)


def _need_config(config: bytes | None) -> bytes:
    if config is None:
        raise ManifestError("this conversion needs the image config blob (config=...)")
    return config


def _go_time(text: str | None) -> str:
    """A timestamp as Go's ``time.Time`` marshals it: trailing fraction zeros trimmed."""
    if not text:
        return GO_ZERO_TIME
    text = text.replace("+00:00", "Z")
    return _FRACTION.sub(lambda m: f".{m[1].rstrip('0')}" if m[1].rstrip("0") else "", text, 1)


def v1_id(blob: Digest, *others: str) -> str:
    """containers/image's v1 ID: sha256 hex of the blob hex and *others*, space-joined."""
    return hashlib.sha256(" ".join([blob.hex, *others]).encode("utf-8")).hexdigest()


def _v1_top(config: bytes, v1: str, parent: str, throwaway: bool) -> str:
    """The top history entry: the whole config minus rootfs/history, plus id/parent."""
    raw: dict[str, Any] = json.loads(config)
    raw.pop("rootfs", None)
    raw.pop("history", None)
    raw["id"] = v1
    if parent:
        raw["parent"] = parent
    if throwaway:
        raw["throwaway"] = True
    return gojson.dumps(dict(sorted(raw.items()))).decode("utf-8")


def _v1_entry(v1: str, parent: str, entry: HistoryEntry) -> str:
    """A history entry as schema1 ``v1Compatibility`` (Schema1V1Compatibility's key order)."""
    out: dict[str, Any] = {"id": v1}
    if parent:
        out["parent"] = parent
    if entry.comment:
        out["comment"] = entry.comment
    out["created"] = _go_time(entry.created)
    out["container_config"] = {"Cmd": [entry.created_by or ""]}
    if entry.author:
        out["author"] = entry.author
    if entry.empty_layer:
        out["throwaway"] = True
    return gojson.dumps(out).decode("utf-8")


def _to_schema1(manifest: OCIManifest | DockerManifest, layers: Sequence[Descriptor],
                config: bytes, *, name: str, tag: str,
                key: ec.EllipticCurvePrivateKey | None) -> Conversion:
    for i, layer in enumerate(layers):
        converted_media_type(layer, i, oci=False)  # schema1 layers are gzip (or plain) tars too
    parsed = parse_config(config, manifest.config.media_type)
    if not parsed.history:
        raise ConfigError("cannot convert an image with 0 history entries to schema1")
    if len(parsed.layer_history()) != len(layers):
        raise ConfigError(
            f"image config history has {len(parsed.layer_history())} non-empty entries "
            f"but the manifest has {len(layers)} layers"
        )
    fs_layers: list[Digest] = []
    history: list[str] = []
    remaining = iter(layers)
    parent = current = ""
    for entry in parsed.history:
        parent = current
        blob = EMPTY_LAYER.digest if entry.empty_layer else next(remaining).digest
        current = v1_id(blob, parent)
        fs_layers.insert(0, blob)
        history.insert(0, _v1_entry(current, parent, entry))
    top = v1_id(fs_layers[0], parent, config.decode("utf-8"))
    history[0] = _v1_top(config, top, parent, parsed.history[-1].empty_layer)
    out = Schema1Manifest(name=name, tag=tag, architecture=parsed.architecture,
                          fs_layers=fs_layers, history=history, signed=True)
    extra = ((EMPTY_LAYER, schema1.EMPTY_LAYER_GZIP),) if any(
        h.empty_layer for h in parsed.history) else ()
    return Conversion(schema1.sign(out.payload(), key),
                      mediatype.DOCKER_V2S1_SIGNED_MANIFEST, extra_blobs=extra)


def _schema1_to_v2s2(manifest: Schema1Manifest, layers: Sequence[Descriptor] | None,
                     diff_ids: Sequence[Digest] | None) -> tuple[DockerManifest, bytes]:
    count = len(manifest.fs_layers)
    if layers is None or diff_ids is None:
        raise ManifestError("converting schema1 needs the copied layers and their diff_ids "
                            "(layers=..., diff_ids=...)")
    if len(layers) != count or len(diff_ids) != count:
        raise ManifestError(f"schema1 manifest has {count} fsLayers but {len(layers)} layers "
                            f"and {len(diff_ids)} diff_ids were given")
    compat = [json.loads(h) for h in manifest.history]  # newest first; JSON checked by parse
    keep = _schema1_chain(compat)
    compat = [compat[i] for i in keep]
    layers = [layers[count - 1 - i] for i in reversed(keep)]  # back to oldest first
    diff_ids = [diff_ids[count - 1 - i] for i in reversed(keep)]
    try:
        entries = [_schema1_history(c, f"history[{i}].v1Compatibility.")
                   for i, c in enumerate(compat)]
    except FieldError as exc:
        raise ManifestError(f"invalid schema1 history: {exc}") from exc
    history: list[dict[str, Any]] = []
    kept_layers: list[Descriptor] = []
    kept_diff_ids: list[Digest] = []
    for v2_index, entry in enumerate(reversed(entries)):
        history.append(entry.to_json(docker=True))
        if not entry.empty_layer:
            layer = layers[v2_index]
            kept_layers.append(Descriptor(mediatype.DOCKER_LAYER_GZIP, layer.digest, layer.size,
                                          urls=layer.urls))
            kept_diff_ids.append(diff_ids[v2_index])
    raw = {k: v for k, v in compat[0].items() if k not in _V1_ONLY_KEYS}
    raw["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in kept_diff_ids]}
    raw["history"] = history
    config = gojson.dumps(dict(sorted(raw.items())))
    DockerConfig.from_bytes(config)  # the top entry may carry fields a config cannot have
    descriptor = Descriptor(mediatype.DOCKER_CONFIG, Digest.from_bytes(config), len(config))
    return DockerManifest(config=descriptor, layers=kept_layers), config


def _schema1_chain(compat: list[dict[str, Any]]) -> list[int]:
    """Which history entries (newest first) to keep, as containers/image's
    ``fixManifestLayers`` decides: consecutive repeats of an ID collapse into one (old
    Docker wrote them), and every entry's ``parent`` must be the ID of the next older one.
    """
    ids = [c.get("id") for c in compat]
    if compat[-1].get("parent"):
        raise ManifestError("invalid schema1 manifest: the base layer has a parent ID")
    for i, v1 in enumerate(ids):
        if v1 in ids[:i] and ids[i - 1] != v1:
            raise ManifestError(f"invalid schema1 manifest: ID {v1} appears more than once")
    keep = [len(compat) - 1]
    for i in range(len(compat) - 2, -1, -1):
        if ids[i] == ids[i + 1]:
            continue
        if compat[i].get("parent") != ids[i + 1]:
            raise ManifestError(f"invalid schema1 manifest: history[{i}] has parent "
                                f"{compat[i].get('parent')!r}, expected {ids[i + 1]}")
        keep.append(i)
    return keep[::-1]


def _schema1_history(compat: dict[str, Any], where: str) -> HistoryEntry:
    """The config history entry a ``v1Compatibility`` object stands for."""
    container = get_object(compat, "container_config", where) or {}
    return HistoryEntry(
        created=_go_time(get_str(compat, "created", where)),
        created_by=" ".join(get_str_list(container, "Cmd", f"{where}container_config.")),
        author=get_str(compat, "author", where),
        comment=get_str(compat, "comment", where),
        empty_layer=get_bool(compat, "throwaway", where),
    )


def convert_manifest(
    manifest_bytes: bytes,
    source_type: str,
    target_type: str,
    *,
    config: bytes | None = None,
    name: str = "",
    tag: str = "",
    layers: Sequence[Descriptor] | None = None,
    diff_ids: Sequence[Digest] | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> Conversion:
    """Convert an image manifest to *target_type* (see the module docstring for the rules).

    *config* is the config blob (needed for v2s2 -> OCI and -> schema1); *name* and *tag*
    fill schema1's fields; *layers* are the layer descriptors as copied, oldest first
    (default: the source's); *diff_ids* the uncompressed digests (schema1 sources only);
    *key* signs schema1 output (default: a throwaway key).
    """
    if target_type == mediatype.DOCKER_V2S1_MANIFEST:
        target_type = mediatype.DOCKER_V2S1_SIGNED_MANIFEST  # registries need it signed
    if target_type not in (OCI, V2S2, mediatype.DOCKER_V2S1_SIGNED_MANIFEST):
        raise ManifestError(f"cannot convert to {target_type!r}: not an image manifest type")
    if source_type == target_type and layers is None:
        return Conversion(manifest_bytes, source_type)
    if _is_schema1(source_type):
        source = parse_manifest(manifest_bytes, source_type)
        if not isinstance(source, Schema1Manifest):
            raise ManifestError(f"{source_type} did not parse as schema1")
        if _is_schema1(target_type):
            return Conversion(manifest_bytes, source_type)
        docker, new_config = _schema1_to_v2s2(source, layers, diff_ids)
        if target_type == V2S2:
            return Conversion(docker.to_bytes(), V2S2, config=new_config)
        return _to_oci(docker, docker.layers, new_config)
    manifest = _image_manifest(manifest_bytes, source_type)
    copied = list(layers) if layers is not None else manifest.layers
    if target_type == V2S2:
        return _to_v2s2(manifest, copied)
    if target_type == OCI:
        return _to_oci(manifest, copied, config)
    return _to_schema1(manifest, copied, _need_config(config), name=name, tag=tag, key=key)
