"""Manifests of every kind: parse with validation, serialise canonically, list references.

Five classes share one informal interface (:data:`Manifest`): ``media_type``,
``config``, ``layers``, ``manifests``, ``subject``, ``artifact_type``, ``to_bytes()``,
``referenced_blobs()`` and ``referenced_manifests()``. Canonical bytes are Go's
``json.Marshal`` of containers/image's structs, so they match what the Go tools write.
A registry answers MANIFEST_BLOB_UNKNOWN when :meth:`referenced_blobs` or
:meth:`referenced_manifests` names something it does not hold. Layers with ``urls``
(foreign, non-distributable) are listed too; distribution does not require those to
exist, so a registry emulating it filters on ``descriptor.urls``.

:mod:`harness.model.schema1` (signatures, with datetime) is imported only where a schema1
manifest is read, digested or written: an OCI or schema2 copy never loads it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.model import gojson, mediatype
from harness.model.descriptor import Descriptor, validate_media_type
from harness.model.digest import Digest, DigestError
from harness.model.jsonfields import (
    FieldError,
    get_list,
    get_object,
    get_str,
    get_str_map,
    load_object,
    require_int,
    require_str,
)
from harness.model.platforms import PlatformChoice, choose_instance
from harness.util.errors import HarnessError


class ManifestError(HarnessError, ValueError):
    """A manifest is malformed or is not of the type it claims; the message says why."""


def _descriptors(obj: dict[str, Any], key: str, *, required: bool) -> list[Descriptor]:
    items = get_list(obj, key, "", required=required)
    return [Descriptor.from_json(item, f"{key}[{i}].") for i, item in enumerate(items)]


def _oci_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """``subject``, ``artifactType`` and ``annotations``: what OCI manifests and indexes share."""
    subject = get_object(obj, "subject", "")
    artifact_type = get_str(obj, "artifactType", "")
    if artifact_type is not None:
        validate_media_type(artifact_type, "artifactType: ")
    return {
        "subject": Descriptor.from_json(subject, "subject.") if subject is not None else None,
        "artifact_type": artifact_type,
        "annotations": get_str_map(obj, "annotations", ""),
    }


def _check_header(obj: dict[str, Any], version: int, media_type: str, *,
                  media_type_required: bool) -> None:
    if require_int(obj, "schemaVersion", "") != version:
        raise FieldError(f"schemaVersion must be {version} for {media_type}")
    declared = get_str(obj, "mediaType", "")
    if declared is None and media_type_required:
        raise FieldError(f"mediaType is required and must be {media_type}")
    if declared is not None and declared != media_type:
        raise FieldError(f"mediaType {declared!r} does not match {media_type}")


class _Json(ABC):
    """Canonical bytes from ``to_json``, shared by every manifest class."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The JSON object, keys in the order of containers/image's Go struct."""

    def to_bytes(self) -> bytes:
        return gojson.dumps(self.to_json())


class _SingleImage(_Json):
    """A manifest of one image: it lists no child manifests."""

    @property
    def manifests(self) -> list[Descriptor]:
        return []

    def referenced_manifests(self) -> list[Descriptor]:
        return []


class _ManifestIndex(_Json):
    """A list of manifests: no config or layers of its own."""

    manifests: list[Descriptor]

    @property
    def config(self) -> Descriptor | None:
        return None

    @property
    def layers(self) -> list[Descriptor]:
        return []

    def referenced_blobs(self) -> list[Descriptor]:
        return []

    def referenced_manifests(self) -> list[Descriptor]:
        return list(self.manifests)


class _DockerFormat:
    """Docker formats predate subjects and artifact types."""

    @property
    def subject(self) -> Descriptor | None:
        return None

    @property
    def artifact_type(self) -> str | None:
        return None


@dataclass
class OCIManifest(_SingleImage):
    """``application/vnd.oci.image.manifest.v1+json``: an image or an artifact."""

    config: Descriptor
    layers: list[Descriptor] = field(default_factory=list)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    media_type: ClassVar[str] = mediatype.OCI_MANIFEST

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> OCIManifest:
        _check_header(obj, 2, cls.media_type, media_type_required=False)
        config = get_object(obj, "config", "", required=True) or {}
        return cls(
            config=Descriptor.from_json(config, "config."),
            layers=_descriptors(obj, "layers", required=False),
            **_oci_fields(obj),
        )

    def to_json(self) -> dict[str, Any]:
        return _oci_json(self, {
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        })

    def referenced_blobs(self) -> list[Descriptor]:
        return [self.config, *self.layers]


@dataclass
class OCIIndex(_ManifestIndex):
    """``application/vnd.oci.image.index.v1+json``: a list of manifests, usually per platform."""

    manifests: list[Descriptor] = field(default_factory=list)
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    media_type: ClassVar[str] = mediatype.OCI_INDEX

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> OCIIndex:
        _check_header(obj, 2, cls.media_type, media_type_required=False)
        return cls(
            manifests=_descriptors(obj, "manifests", required=True),
            **_oci_fields(obj),
        )

    def to_json(self) -> dict[str, Any]:
        return _oci_json(self, {"manifests": [m.to_json() for m in self.manifests]})


@dataclass
class DockerManifest(_DockerFormat, _SingleImage):
    """``application/vnd.docker.distribution.manifest.v2+json`` (schema2)."""

    config: Descriptor
    layers: list[Descriptor] = field(default_factory=list)
    media_type: ClassVar[str] = mediatype.DOCKER_V2S2_MANIFEST

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DockerManifest:
        _check_header(obj, 2, cls.media_type, media_type_required=True)
        config = get_object(obj, "config", "", required=True) or {}
        return cls(
            config=Descriptor.from_json(config, "config."),
            layers=_descriptors(obj, "layers", required=False),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "config": self.config.to_json(docker=True),
            "layers": [layer.to_json(docker=True) for layer in self.layers],
        }

    def referenced_blobs(self) -> list[Descriptor]:
        return [self.config, *self.layers]


@dataclass
class DockerManifestList(_DockerFormat, _ManifestIndex):
    """``application/vnd.docker.distribution.manifest.list.v2+json``; entries need a platform."""

    manifests: list[Descriptor] = field(default_factory=list)
    media_type: ClassVar[str] = mediatype.DOCKER_MANIFEST_LIST

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> DockerManifestList:
        _check_header(obj, 2, cls.media_type, media_type_required=True)
        manifests = _descriptors(obj, "manifests", required=True)
        for i, entry in enumerate(manifests):
            if entry.platform is None:
                raise FieldError(f"manifests[{i}].platform is required in a manifest list")
        return cls(manifests=manifests)

    def to_json(self) -> dict[str, Any]:
        return {
            "schemaVersion": 2,
            "mediaType": self.media_type,
            "manifests": [m.to_json(docker=True) for m in self.manifests],
        }


@dataclass
class Schema1Manifest(_DockerFormat, _SingleImage):
    """Docker schema1: ``fs_layers`` and ``history`` pair up, newest first.

    ``history`` holds the raw ``v1Compatibility`` strings (each a JSON object). When
    ``signed`` is true, :meth:`to_bytes` signs the payload with a throwaway key, as
    containers/image does; the digest (of the payload) is the same for every signature.
    """

    name: str
    tag: str
    architecture: str
    fs_layers: list[Digest]
    history: list[str]
    signed: bool = True

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Schema1Manifest:
        from harness.model import schema1  # noqa: PLC0415

        if require_int(obj, "schemaVersion", "") != 1:
            raise FieldError("schemaVersion must be 1 for a schema1 manifest")
        fs_layers = []
        for i, item in enumerate(get_list(obj, "fsLayers", "", required=True)):
            where = f"fsLayers[{i}]."
            if not isinstance(item, dict):
                raise FieldError(f"fsLayers[{i}] must be an object")
            try:
                fs_layers.append(Digest.parse(require_str(item, "blobSum", where)))
            except DigestError as exc:
                raise FieldError(f"{where}blobSum: {exc}") from exc
        history = []
        for i, item in enumerate(get_list(obj, "history", "", required=True)):
            if not isinstance(item, dict):
                raise FieldError(f"history[{i}] must be an object")
            # An embedded document: a lone surrogate has no UTF-8 form (Go reads U+FFFD).
            text = gojson.go_string(require_str(item, "v1Compatibility", f"history[{i}]."))
            v1 = load_object(text.encode("utf-8"), f"history[{i}].v1Compatibility")
            if not schema1.valid_v1_id(get_str(v1, "id", f"history[{i}].v1Compatibility.") or ""):
                raise FieldError(f"history[{i}].v1Compatibility.id must be 64 lowercase hex")
            history.append(text)
        if not fs_layers:
            raise FieldError("a schema1 manifest needs at least one fsLayers entry")
        if len(fs_layers) != len(history):
            raise FieldError(
                f"fsLayers ({len(fs_layers)}) and history ({len(history)}) differ in length"
            )
        return cls(
            name=require_str(obj, "name", ""),
            tag=get_str(obj, "tag", "") or "",
            architecture=get_str(obj, "architecture", "") or "",
            fs_layers=fs_layers,
            history=history,
            signed=schema1.SIGNATURES_KEY in obj,
        )

    @property
    def media_type(self) -> str:
        if self.signed:
            return mediatype.DOCKER_V2S1_SIGNED_MANIFEST
        return mediatype.DOCKER_V2S1_MANIFEST

    @property
    def config(self) -> Descriptor | None:
        return None

    @property
    def layers(self) -> list[Descriptor]:
        """The layer blobs oldest first, empty ones included; schema1 records no sizes."""
        return [Descriptor(mediatype.DOCKER_LAYER_GZIP, d, -1) for d in reversed(self.fs_layers)]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tag": self.tag,
            "architecture": self.architecture,
            "fsLayers": [{"blobSum": str(d)} for d in self.fs_layers],
            "history": [{"v1Compatibility": h} for h in self.history],
            "schemaVersion": 1,
        }

    def payload(self) -> bytes:
        """The unsigned bytes; their digest is the manifest digest, signed or not."""
        return gojson.dumps(self.to_json())

    def to_bytes(self) -> bytes:
        if not self.signed:
            return self.payload()
        from harness.model import schema1  # noqa: PLC0415

        return schema1.sign(self.payload())

    def referenced_blobs(self) -> list[Descriptor]:
        unique = dict.fromkeys(reversed(self.fs_layers))
        return [Descriptor(mediatype.DOCKER_LAYER_GZIP, d, -1) for d in unique]


def _oci_json(manifest: OCIManifest | OCIIndex, body: dict[str, Any]) -> dict[str, Any]:
    """Wrap *body* in the fields OCI manifests and indexes share, in Go struct order."""
    out: dict[str, Any] = {"schemaVersion": 2, "mediaType": manifest.media_type}
    if manifest.artifact_type:
        out["artifactType"] = manifest.artifact_type
    out.update(body)
    if manifest.subject is not None:
        out["subject"] = manifest.subject.to_json()
    if manifest.annotations:
        out["annotations"] = dict(sorted(manifest.annotations.items()))  # a Go map
    return out


Manifest = OCIManifest | OCIIndex | DockerManifest | DockerManifestList | Schema1Manifest

_CLASSES: dict[str, type[OCIManifest | OCIIndex | DockerManifest | DockerManifestList]] = {
    mediatype.OCI_MANIFEST: OCIManifest,
    mediatype.OCI_INDEX: OCIIndex,
    mediatype.DOCKER_V2S2_MANIFEST: DockerManifest,
    mediatype.DOCKER_MANIFEST_LIST: DockerManifestList,
}


def _detect(obj: dict[str, Any]) -> str:
    declared = obj.get("mediaType")
    if isinstance(declared, str) and declared in mediatype.ALL_MANIFESTS:
        return declared
    version = obj.get("schemaVersion")
    if version == 1:
        from harness.model import schema1  # noqa: PLC0415

        if schema1.SIGNATURES_KEY in obj:
            return mediatype.DOCKER_V2S1_SIGNED_MANIFEST
        return mediatype.DOCKER_V2S1_MANIFEST
    if version == 2 and declared is None:
        if "manifests" in obj:
            return mediatype.OCI_INDEX
        config = obj.get("config")
        if isinstance(config, dict) and config.get("mediaType") == mediatype.DOCKER_CONFIG:
            return mediatype.DOCKER_V2S2_MANIFEST
        if "config" in obj:
            return mediatype.OCI_MANIFEST
    if isinstance(declared, str):
        raise ManifestError(f"unknown manifest mediaType {declared!r}")
    raise ManifestError("cannot tell the manifest type: no known mediaType or schemaVersion")


def detect_media_type(data: bytes) -> str:
    """Guess the media type from content, as containers/image's ``GuessMIMEType`` does."""
    try:
        obj = load_object(data, "manifest")
    except FieldError as exc:
        raise ManifestError(str(exc)) from exc
    return _detect(obj)


def parse_manifest(data: bytes, media_type: str | None = None) -> Manifest:
    """Parse and validate *data* as *media_type* (detected from content when None)."""
    try:
        obj = load_object(data, "manifest")
        if media_type is None:
            media_type = _detect(obj)
        if media_type in mediatype.SCHEMA1:
            return Schema1Manifest.from_json(obj)
        cls = _CLASSES.get(media_type)
        if cls is None:
            raise ManifestError(f"unsupported manifest media type {media_type!r}")
        return cls.from_json(obj)
    except FieldError as exc:
        raise ManifestError(f"invalid {media_type or 'manifest'}: {exc}") from exc


def manifest_digest(data: bytes, algorithm: str = "sha256") -> Digest:
    """The digest a registry gives *data*: signed schema1 over its payload, else the bytes.

    Raises :class:`~harness.model.schema1.SignatureError` for a schema1 manifest whose
    signature block is malformed (its payload cannot be rebuilt).
    """
    if b'"signatures"' in data:  # cheap pre-check before decoding
        from harness.model import schema1  # noqa: PLC0415

        try:
            obj = load_object(data, "manifest")
        except FieldError:
            obj = {}
        if obj.get("schemaVersion") == 1 and schema1.SIGNATURES_KEY in obj:
            return Digest.from_bytes(schema1.payload(data), algorithm)
    return Digest.from_bytes(data, algorithm)


def platform_instance(index: Manifest, choice: PlatformChoice | None = None) -> Digest:
    """The digest of the index entry for *choice* (this machine by default); see
    :mod:`harness.model.platforms`."""
    if not index.manifests:
        raise HarnessError("the image index lists no manifests")
    return choose_instance(index.manifests, choice or PlatformChoice(),
                           oci=index.media_type == mediatype.OCI_INDEX).digest
