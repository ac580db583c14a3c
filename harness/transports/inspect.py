"""``inspect``: what skopeo inspect shows of an image, read through any transport.

The summary has skopeo's keys (``Name``, ``Digest``, ``RepoTags``, ``Created``,
``DockerVersion``, ``Labels``, ``Architecture``, ``Os``, ``Layers``, ``Env``); ``Digest`` is
that of the manifest the reference names (an index, if it names one), while the other
fields describe the image the context's platform choice takes from it (this machine's
unless ``--override-arch``/``-os``/``-variant`` say otherwise).
"""

from __future__ import annotations

import json
from typing import Any

from harness.model import mediatype
from harness.model.manifest import (
    Schema1Manifest,
    manifest_digest,
    parse_manifest,
    platform_instance,
)
from harness.model.reference import Reference
from harness.transports.types import ImageReference, ImageSource, SystemContext, read_config
from harness.util.errors import HarnessError


def inspect_image(ref: ImageReference, ctx: SystemContext, *, raw: bool = False,
                  config: bool = False, tags: bool = True) -> bytes | dict[str, Any]:
    """The raw manifest (*raw*), the config (*config*; raw bytes with *raw*) or a summary;
    without *tags* the repository's tags are not listed (skopeo's ``--no-tags``)."""
    with ref.new_image_source(ctx) as source:
        top, top_type = source.get_manifest()
        if raw and not config:
            return top
        manifest, media_type = top, top_type
        if top_type in mediatype.INDEXES:
            try:
                instance = platform_instance(parse_manifest(top, top_type), ctx.platform_choice)
            except HarnessError as exc:
                raise HarnessError(f"choosing image instance: {exc}") from None
            manifest, media_type = source.get_manifest(instance)
        config_bytes = _config_bytes(source, manifest, media_type)
        if config:
            return config_bytes if raw else _json_object(config_bytes)
        summary = _summary(_json_object(config_bytes), parse_manifest(manifest, media_type))
        docker = ref.docker_reference()
        name = {"Name": docker.name} if isinstance(docker, Reference) else {}
        return {**name, "Digest": str(manifest_digest(top)),
                "RepoTags": source.repository_tags() if tags else [], **summary}


def _config_bytes(source: ImageSource, manifest: bytes, media_type: str) -> bytes:
    """The config blob; for schema1 (which has none), its newest v1Compatibility entry."""
    parsed = parse_manifest(manifest, media_type)
    if isinstance(parsed, Schema1Manifest):
        return parsed.history[0].encode()
    if parsed.config is None:
        raise HarnessError(f"a {media_type} has no image config")
    return read_config(source, parsed.config)


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise HarnessError(f"the image config is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise HarnessError("the image config is not a JSON object")
    return obj


def _summary(cfg: dict[str, Any], manifest: Any) -> dict[str, Any]:
    container = cfg.get("config") or {}
    return {
        "Created": cfg.get("created"),
        "DockerVersion": cfg.get("docker_version", ""),
        "Labels": container.get("Labels") or {},
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
        "Layers": [str(layer.digest) for layer in manifest.layers],
        "Env": container.get("Env") or [],
    }
