"""The OCI and the Docker image configs of a build, kept side by side as buildah keeps
them (``b.OCIv1`` and ``b.Docker``), over the model's :mod:`harness.model.config`.

Every setter writes both, so a commit in either format carries the same settings. The
Docker run config is written with every field of Go's ``docker.Config`` that has no
``omitempty`` (``Hostname``, ``AttachStdin``...), in struct order, as buildah writes it;
the OCI one keeps only the OCI run keys, also in order. Key order therefore never depends
on the order settings were made in, and neither do the config bytes and the image ID.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

from harness.model import mediatype
from harness.model.config import (
    OCI_RUN_KEYS,
    ConfigError,
    DockerConfig,
    HistoryEntry,
    OCIConfig,
    parse_config,
)
from harness.model.digest import Digest

# docker.Config in Go field order; None marks ``omitempty`` fields left out when unset.
_DOCKER_RUN_DEFAULTS: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
    "AttachStdout": False, "AttachStderr": False, "ExposedPorts": None, "Tty": False,
    "OpenStdin": False, "StdinOnce": False, "Env": [], "Cmd": [], "Healthcheck": None,
    "ArgsEscaped": None, "Image": "", "Volumes": {}, "WorkingDir": "", "Entrypoint": [],
    "NetworkDisabled": None, "MacAddress": None, "OnBuild": [], "Labels": {},
    "StopSignal": None, "StopTimeout": None, "Shell": None,
}
# Go writes a nil slice or map without omitempty as null.
_NULL_WHEN_EMPTY = {"Env", "Cmd", "Volumes", "Entrypoint", "Labels"}


def docker_run_config(settings: dict[str, Any]) -> dict[str, Any]:
    """*settings* as Go marshals a ``docker.Config``: every non-omitempty field, in order."""
    out: dict[str, Any] = {}
    for key, default in _DOCKER_RUN_DEFAULTS.items():
        value = settings.get(key, default)
        if key == "OnBuild" and value is None:
            value = []  # buildah always writes an empty list, never null
        if default is None and value in (None, "", [], {}, False):
            continue
        out[key] = None if key in _NULL_WHEN_EMPTY and not value else value
    out.update({k: v for k, v in sorted(settings.items()) if k not in _DOCKER_RUN_DEFAULTS})
    return out


@dataclass
class ImageConfigs:
    """The two configs a build carries."""

    oci: OCIConfig
    docker: DockerConfig

    @classmethod
    def scratch(cls, architecture: str, os_name: str) -> ImageConfigs:
        return cls(OCIConfig(architecture=architecture, os=os_name),
                   DockerConfig(architecture=architecture, os=os_name))

    @classmethod
    def from_image_config(cls, data: bytes, media_type: str) -> ImageConfigs:
        """Both configs from an image's config blob (Docker or OCI)."""
        parsed = parse_config(data, media_type)
        if isinstance(parsed, DockerConfig):
            return cls(parsed.to_oci(), parsed)
        return cls(parsed, parsed.to_docker())

    # -- setters (each writes both configs) -------------------------------------------

    def set_field(self, name: str, value: Any) -> None:
        """Set an OCI run setting (Cmd, Env, User...) in both configs; None clears it."""
        if name not in OCI_RUN_KEYS:
            raise ConfigError(f"unknown config field {name!r}")
        for config in (self.oci, self.docker):
            if value is None:
                config.config.pop(name, None)
            else:
                config.config[name] = copy.deepcopy(value)

    def get_field(self, name: str) -> Any:
        return self.oci.config.get(name)

    def set_env(self, name: str, value: str) -> None:
        """Set NAME=value, replacing an earlier NAME."""
        if not name or "=" in name:
            raise ConfigError(f"invalid environment variable name {name!r}")
        env = [e for e in self.get_field("Env") or [] if e.split("=", 1)[0] != name]
        self.set_field("Env", [*env, f"{name}={value}"])

    def set_map_entry(self, name: str, key: str, value: Any) -> None:
        """Add to a map setting (Labels, ExposedPorts, Volumes)."""
        self.set_field(name, {**(self.get_field(name) or {}), key: value})

    def set_author(self, author: str) -> None:
        for config in (self.oci, self.docker):
            config.author = author

    def set_platform(self, architecture: str | None, os_name: str | None) -> None:
        for config in (self.oci, self.docker):
            config.architecture = architecture or config.architecture
            config.os = os_name or config.os

    # -- commit -----------------------------------------------------------------------

    def render(self, docker: bool, diff_id: Digest, history: HistoryEntry | None, *,
               created: str, container: str, parent: str | None,
               squash: bool = False) -> bytes:
        """The config blob of the committed image: this build's settings plus *diff_id*,
        one *history* entry and the creation time. Docker's names *container* and the
        *parent* image ID and, as buildah's, drops the base's ``docker_version``.

        Without *history* (buildah's ``--omit-history``) the base's history goes too, as
        with buildah, whose config then has no ``history`` key at all. With *squash*
        *diff_id* is the only layer and *history* the only entry."""
        base = self.docker if docker else self.oci
        kept = [] if squash else base.history
        entries = [] if history is None else [*kept, history]
        diff_ids = [diff_id] if squash else [*base.diff_ids, diff_id]
        if not docker:
            return replace(self.oci, created=created, diff_ids=diff_ids,
                           history=entries).to_bytes()
        run = docker_run_config(self.docker.config)
        return replace(self.docker, created=created, diff_ids=diff_ids,
                       history=entries, config=run,
                       container=container, container_config=copy.deepcopy(run),
                       parent=parent, docker_version=None).to_bytes()

    def to_json(self) -> dict[str, Any]:
        return {"oci": self.oci.to_json(), "docker": self.docker.to_json()}

    @classmethod
    def from_json(cls, state: dict[str, Any]) -> ImageConfigs:
        return cls(OCIConfig.from_json(state["oci"]), DockerConfig.from_json(state["docker"]))


def config_media_type(docker: bool) -> str:
    return mediatype.DOCKER_CONFIG if docker else mediatype.OCI_CONFIG
