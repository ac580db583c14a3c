"""Image configs, OCI and Docker side by side, and the history/diff_ids rule.

The two formats share most fields; Docker adds a few of its own (``id``, ``parent``,
``container_config``, ``docker_version``...). :class:`DockerConfig` extends
:class:`OCIConfig` with them, and :meth:`DockerConfig.to_oci` drops them the way
containers/image does when it re-encodes a schema2 config as OCI (by decoding into the
OCI struct: Docker-only keys, also inside ``config``, disappear).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Self

from harness.model import gojson, mediatype
from harness.model.digest import Digest, DigestError
from harness.model.jsonfields import (
    FieldError,
    get_bool,
    get_int,
    get_list,
    get_object,
    get_str,
    get_str_list,
    load_object,
)
from harness.util.errors import HarnessError

_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)", re.ASCII
)
# What Go's time.Time marshals to when unset (Docker history entries always carry it).
GO_ZERO_TIME = "0001-01-01T00:00:00Z"
# The container run settings an OCI config keeps, in the Go struct's order.
OCI_RUN_KEYS = (
    "User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels",
    "StopSignal", "ArgsEscaped",
)


class ConfigError(HarnessError, ValueError):
    """An image config is malformed or inconsistent; the message names the field."""


def _timestamp(obj: dict[str, Any], key: str, where: str) -> str | None:
    """A timestamp Go's ``time.Time`` would accept: RFC 3339 with a real date and time."""
    value = get_str(obj, key, where)
    if value:
        try:
            if not _RFC3339.fullmatch(value):
                raise ValueError("not in RFC 3339 form")
            datetime.fromisoformat(value)  # rejects month 13, hour 25, ...
        except ValueError as exc:
            raise FieldError(f"{where}{key} {value!r} is not an RFC 3339 timestamp") from exc
    return value


def _omit_empty(obj: dict[str, Any]) -> dict[str, Any]:
    """Go's ``omitempty``: drop None, "", 0, False and empty collections."""
    return {k: v for k, v in obj.items() if v not in (None, "", 0, False, [], {})}


@dataclass
class HistoryEntry:
    """One step that built the image; ``empty_layer`` steps added no layer."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False

    @classmethod
    def from_json(cls, obj: Any, where: str) -> HistoryEntry:
        if not isinstance(obj, dict):
            raise FieldError(f"{where.rstrip('.')} must be an object")
        return cls(
            created=_timestamp(obj, "created", where),
            created_by=get_str(obj, "created_by", where),
            author=get_str(obj, "author", where),
            comment=get_str(obj, "comment", where),
            empty_layer=get_bool(obj, "empty_layer", where),
        )

    def to_json(self, *, docker: bool = False) -> dict[str, Any]:
        """OCI's key order, or Docker's (``created`` always present, ``author`` second)."""
        if docker:
            return {"created": self.created or GO_ZERO_TIME, **_omit_empty({
                "author": self.author, "created_by": self.created_by,
                "comment": self.comment, "empty_layer": self.empty_layer,
            })}
        return _omit_empty({
            "created": self.created, "created_by": self.created_by, "author": self.author,
            "comment": self.comment, "empty_layer": self.empty_layer,
        })


@dataclass
class OCIConfig:
    """``application/vnd.oci.image.config.v1+json``.

    ``config`` holds the container run settings as JSON (``Env``, ``Cmd``, ...); timestamps
    stay strings so that they round-trip to the byte.
    """

    architecture: str = "amd64"
    os: str = "linux"
    created: str | None = None
    author: str | None = None
    os_version: str | None = None
    os_features: list[str] = field(default_factory=list)
    variant: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    diff_ids: list[Digest] = field(default_factory=list)
    history: list[HistoryEntry] = field(default_factory=list)
    media_type: ClassVar[str] = mediatype.OCI_CONFIG

    @classmethod
    def _common(cls, obj: dict[str, Any]) -> dict[str, Any]:
        """The constructor arguments both formats share, read and validated."""
        rootfs = get_object(obj, "rootfs", "") or {}
        if rootfs and rootfs.get("type") != "layers":
            raise FieldError("rootfs.type must be 'layers'")
        diff_ids = []
        for i, text in enumerate(get_str_list(rootfs, "diff_ids", "rootfs.")):
            try:
                diff_ids.append(Digest.parse(text))
            except DigestError as exc:
                raise FieldError(f"rootfs.diff_ids[{i}]: {exc}") from exc
        return {
            "architecture": get_str(obj, "architecture", "") or "",
            "os": get_str(obj, "os", "") or "",
            "created": _timestamp(obj, "created", ""),
            "author": get_str(obj, "author", ""),
            "os_version": get_str(obj, "os.version", ""),
            "os_features": get_str_list(obj, "os.features", ""),
            "variant": get_str(obj, "variant", ""),
            "config": get_object(obj, "config", "") or {},
            "diff_ids": diff_ids,
            "history": [HistoryEntry.from_json(h, f"history[{i}].")
                        for i, h in enumerate(get_list(obj, "history", ""))],
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Self:
        return cls(**cls._common(obj))

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        """Parse and validate a config blob; raise :class:`ConfigError` naming the field."""
        try:
            return cls.from_json(load_object(data, "image config"))
        except FieldError as exc:
            raise ConfigError(f"invalid image config: {exc}") from exc

    def _rootfs(self) -> dict[str, Any]:
        return {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]}

    def to_json(self) -> dict[str, Any]:
        """Keys in the order of image-spec's Go struct."""
        out = _omit_empty({"created": self.created, "author": self.author})
        out["architecture"] = self.architecture
        out["os"] = self.os
        out.update(_omit_empty({
            "os.version": self.os_version, "os.features": self.os_features,
            "variant": self.variant,
        }))
        out["config"] = oci_run_config(self.config)
        out["rootfs"] = self._rootfs()
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        return out

    def to_bytes(self) -> bytes:
        return gojson.dumps(self.to_json())

    def layer_history(self) -> list[HistoryEntry]:
        """The history entries that created a layer, oldest first."""
        return [h for h in self.history if not h.empty_layer]

    def check_history(self) -> None:
        """Non-empty history entries must match diff_ids one to one (when there is history)."""
        if self.history and len(self.layer_history()) != len(self.diff_ids):
            raise ConfigError(
                f"image config history has {len(self.layer_history())} non-empty entries "
                f"but rootfs has {len(self.diff_ids)} diff_ids"
            )

    def to_docker(self) -> DockerConfig:
        """The same settings as a Docker config (nothing is lost in this direction)."""
        shared = {f.name: getattr(self, f.name) for f in fields(OCIConfig)}
        return DockerConfig(**shared)


def oci_run_config(config: dict[str, Any]) -> dict[str, Any]:
    """The OCI subset of a container run config, in Go order, empty values dropped."""
    return go_maps(_omit_empty({key: config.get(key) for key in OCI_RUN_KEYS}))


def go_maps(config: dict[str, Any]) -> dict[str, Any]:
    """*config* with its map settings (``ExposedPorts``, ``Volumes``, ``Labels``) in key
    order: Go marshals a map with its keys sorted, whatever order they were set in."""
    return {key: dict(sorted(value.items())) if key in _MAP_KEYS and isinstance(value, dict)
            else value for key, value in config.items()}


_MAP_KEYS = frozenset({"ExposedPorts", "Volumes", "Labels"})


@dataclass
class DockerConfig(OCIConfig):
    """``application/vnd.docker.container.image.v1+json``: OCI's fields plus Docker's."""

    id: str | None = None
    parent: str | None = None
    comment: str | None = None
    container: str | None = None
    container_config: dict[str, Any] = field(default_factory=dict)
    docker_version: str | None = None
    size: int | None = None
    media_type: ClassVar[str] = mediatype.DOCKER_CONFIG

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Self:
        return cls(
            **cls._common(obj),
            id=get_str(obj, "id", ""),
            parent=get_str(obj, "parent", ""),
            comment=get_str(obj, "comment", ""),
            container=get_str(obj, "container", ""),
            container_config=get_object(obj, "container_config", "") or {},
            docker_version=get_str(obj, "docker_version", ""),
            size=get_int(obj, "size", ""),
        )

    def to_json(self) -> dict[str, Any]:
        """Keys in the order of containers/image's ``Schema2Image`` struct."""
        out = _omit_empty({
            "id": self.id, "comment": self.comment, "created": self.created,
            "container": self.container, "container_config": go_maps(self.container_config),
            "docker_version": self.docker_version, "author": self.author,
            "config": go_maps(self.config), "architecture": self.architecture,
            "variant": self.variant, "os": self.os, "size": self.size,
            "parent": self.parent,
        })
        out["rootfs"] = self._rootfs()
        out.update(_omit_empty({
            "history": [h.to_json(docker=True) for h in self.history],
            "os.version": self.os_version, "os.features": self.os_features,
        }))
        return out

    def to_oci(self) -> OCIConfig:
        """The OCI config containers/image makes of this one: Docker-only fields dropped."""
        shared = {f.name: getattr(self, f.name) for f in fields(OCIConfig)}
        shared["config"] = oci_run_config(self.config)
        return OCIConfig(**shared)


def parse_config(data: bytes, media_type: str) -> OCIConfig:
    """Parse a config blob of *media_type* (OCI or Docker)."""
    if media_type == mediatype.DOCKER_CONFIG:
        return DockerConfig.from_bytes(data)
    if media_type == mediatype.OCI_CONFIG:
        return OCIConfig.from_bytes(data)
    raise ConfigError(f"unsupported image config media type {media_type!r}")
