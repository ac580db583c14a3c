"""Content descriptors (what a manifest says about a blob) and platforms.

One class serves OCI and Docker schema2: they share the fields and differ only in key
order and in which optional fields exist, which :meth:`Descriptor.to_json` handles.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from harness.model.digest import Digest, DigestError
from harness.model.jsonfields import (
    FieldError,
    get_object,
    get_str,
    get_str_list,
    get_str_map,
    require_int,
    require_str,
)

# RFC 6838 restricted names, as the OCI image spec validates mediaType.
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)


def validate_media_type(media_type: str, where: str = "") -> None:
    """Raise :class:`FieldError` unless *media_type* is ``type/subtype`` per RFC 6838."""
    if not _MEDIA_TYPE.fullmatch(media_type):
        raise FieldError(f"{where}mediaType {media_type!r} is not a type/subtype (RFC 6838)")


# Python's platform.machine() names -> Go's GOARCH names, which images use.
_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def host_architecture() -> str:
    """This machine's architecture as images name it (Go's GOARCH: amd64, arm64...)."""
    import platform  # noqa: PLC0415  (~2 ms; only choosing from an index asks)

    machine = platform.machine()
    return _GO_ARCH.get(machine, machine)


@dataclass(frozen=True)
class Platform:
    """The platform an index entry runs on."""

    architecture: str
    os: str
    os_version: str | None = None
    os_features: tuple[str, ...] = ()
    variant: str | None = None
    features: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: dict[str, Any], where: str = "platform.") -> Platform:
        return cls(
            architecture=require_str(obj, "architecture", where),
            os=require_str(obj, "os", where),
            os_version=get_str(obj, "os.version", where),
            os_features=tuple(get_str_list(obj, "os.features", where)),
            variant=get_str(obj, "variant", where),
            features=tuple(get_str_list(obj, "features", where)),
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        if self.features:
            out["features"] = list(self.features)
        return out


@dataclass(frozen=True)
class Descriptor:
    """A pointer to content: media type, digest and size, plus optional metadata.

    ``size`` is -1 only where the format does not record it (schema1 fsLayers).
    """

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, hash=False)
    platform: Platform | None = None
    artifact_type: str | None = None
    data: str | None = None  # OCI 1.1: the content itself, base64, for small blobs

    @classmethod
    def from_json(cls, obj: Any, where: str = "") -> Descriptor:
        """Validate and convert a decoded descriptor; *where* prefixes error messages."""
        if not isinstance(obj, dict):
            raise FieldError(f"{where.rstrip('.') or 'descriptor'} must be an object")
        media_type = require_str(obj, "mediaType", where)
        digest_text = require_str(obj, "digest", where)
        size = require_int(obj, "size", where)
        validate_media_type(media_type, where)
        try:
            digest = Digest.parse(digest_text)
        except DigestError as exc:
            raise FieldError(f"{where}digest: {exc}") from exc
        if size < 0:
            raise FieldError(f"{where}size must be a non-negative integer")
        platform = get_object(obj, "platform", where)
        artifact_type = get_str(obj, "artifactType", where)
        if artifact_type is not None:
            validate_media_type(artifact_type, f"{where}artifactType: ")
        data = get_str(obj, "data", where)
        if data is not None:
            try:
                base64.b64decode(data, validate=True)
            except ValueError as exc:
                raise FieldError(f"{where}data must be base64: {exc}") from exc
        return cls(
            media_type=media_type,
            digest=digest,
            size=size,
            urls=tuple(get_str_list(obj, "urls", where)),
            annotations=get_str_map(obj, "annotations", where),
            platform=Platform.from_json(platform, f"{where}platform.") if platform else None,
            artifact_type=artifact_type,
            data=data,
        )

    def to_json(self, *, docker: bool = False) -> dict[str, Any]:
        """The JSON object, keys in the order of the Go structs (OCI, or Docker's)."""
        out: dict[str, Any] = {"mediaType": self.media_type}
        if docker:
            out["size"] = self.size
            out["digest"] = str(self.digest)
        else:
            out["digest"] = str(self.digest)
            out["size"] = self.size
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(sorted(self.annotations.items()))  # a Go map
        if self.data is not None and not docker:
            out["data"] = self.data
        if self.platform is not None:
            out["platform"] = self.platform.to_json()
        if self.artifact_type and not docker:
            out["artifactType"] = self.artifact_type
        return out
