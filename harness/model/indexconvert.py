"""An index after its images were copied: new entries, and OCI index <-> Docker list.

A copy of every image of an index (``copy --all``) may change the images (recompressed
layers, another manifest type), so the index written at the destination names their new
digests, sizes and types, and may itself change type when the destination or a forced
format asks (containers/image's ``UpdateInstances`` and ``ConvertToMIMEType``):

- OCI index -> Docker list: each entry keeps its media type, size, digest, URLs and
  platform; what Docker lists cannot say (annotations, artifact types, inline data, the
  index's own annotations and subject) is dropped, and an entry without a platform is
  refused, since a Docker list requires one.
- Docker list -> OCI index: the same fields, nothing lost.

An index whose entries and type are unchanged is returned byte for byte, so its digest
holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from harness.model import mediatype
from harness.model.descriptor import Descriptor
from harness.model.manifest import DockerManifestList, ManifestError, OCIIndex


def list_type_for(manifest_type: str) -> str:
    """The index type that goes with a forced image manifest type (containers/image:
    OCI means an OCI index; any Docker format a Docker list)."""
    return mediatype.OCI_INDEX if manifest_type == mediatype.OCI_MANIFEST \
        else mediatype.DOCKER_MANIFEST_LIST


def _docker_entry(entry: Descriptor, number: int) -> Descriptor:
    if entry.platform is None:
        raise ManifestError(f"cannot convert to a Docker manifest list: image {number} "
                            f"({entry.digest}) names no platform, which a list requires")
    return Descriptor(entry.media_type, entry.digest, entry.size, urls=entry.urls,
                      platform=entry.platform)


def rebuild_index(raw: bytes, index: OCIIndex | DockerManifestList,
                  entries: Sequence[Descriptor], target_type: str) -> bytes:
    """*index* (parsed from *raw*) with *entries* instead of its own, as *target_type*."""
    if target_type not in mediatype.INDEXES:
        raise ManifestError(f"cannot convert an index to {target_type!r}: not an index type")
    if target_type == index.media_type and list(entries) == index.manifests:
        return raw
    if target_type == mediatype.DOCKER_MANIFEST_LIST:
        return DockerManifestList([_docker_entry(e, n)
                                   for n, e in enumerate(entries, start=1)]).to_bytes()
    if isinstance(index, OCIIndex):
        return replace(index, manifests=list(entries)).to_bytes()
    return OCIIndex(list(entries)).to_bytes()
