"""What the registry must know about a pushed manifest, read through the image model.

The model parses and validates; this module maps its failures to registry error codes
and collects what the registry checks and indexes: the blobs and child manifests that
must exist, the subject, and the artifact type shown by the referrers API.
"""

from __future__ import annotations

from dataclasses import dataclass

from fakeregistry.errors import RegistryError
from harness.model import mediatype, schema1
from harness.model.digest import Digest, DigestError
from harness.model.manifest import ManifestError, OCIManifest, manifest_digest, parse_manifest

OCI_TYPES = frozenset({mediatype.OCI_MANIFEST, mediatype.OCI_INDEX})
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream"})


@dataclass(frozen=True)
class Inspected:
    media_type: str
    digest: Digest
    blobs: frozenset[Digest]
    children: frozenset[Digest]
    subject: Digest | None
    artifact_type: str | None
    annotations: dict[str, str] | None


def inspect(data: bytes, content_type: str | None, algorithm: str, *,
            schema1_allowed: bool, untyped: str | None = None) -> Inspected:
    """Validate a manifest PUT body; raise the registry error a client should see.

    *untyped* is the type an empty or generic Content-Type stands for (None: the
    body's own)."""
    declared = (content_type or "").split(";")[0].strip()
    if declared in _GENERIC_TYPES and untyped is not None:
        declared = untyped
    if declared not in mediatype.ALL_MANIFESTS and declared not in _GENERIC_TYPES:
        raise RegistryError("MANIFEST_INVALID", f"unsupported manifest media type {declared!r}")
    try:
        manifest = parse_manifest(data, declared if declared in mediatype.ALL_MANIFESTS
                                  else None)
    except ManifestError as exc:
        raise RegistryError("MANIFEST_INVALID", str(exc)) from None
    try:
        if manifest.media_type in mediatype.SCHEMA1:
            if not schema1_allowed:
                raise RegistryError("MANIFEST_INVALID", "schema1 manifests are not accepted")
            if manifest.media_type == mediatype.DOCKER_V2S1_SIGNED_MANIFEST:
                schema1.verify(data)
        digest = manifest_digest(data, algorithm)
    except schema1.SignatureError as exc:
        raise RegistryError("MANIFEST_UNVERIFIED", str(exc)) from None
    except DigestError as exc:
        raise RegistryError("DIGEST_INVALID", str(exc)) from None
    artifact_type = manifest.artifact_type
    if artifact_type is None and isinstance(manifest, OCIManifest):
        artifact_type = manifest.config.media_type
    annotations = getattr(manifest, "annotations", None)
    return Inspected(
        media_type=declared if declared in mediatype.ALL_MANIFESTS else manifest.media_type,
        digest=digest,
        # Foreign layers (with urls) live elsewhere; registries do not require them.
        blobs=frozenset(d.digest for d in manifest.referenced_blobs() if not d.urls),
        children=frozenset(d.digest for d in manifest.referenced_manifests()),
        subject=manifest.subject.digest if manifest.subject is not None else None,
        artifact_type=artifact_type,
        annotations=dict(annotations) if annotations else None,
    )
