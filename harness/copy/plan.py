"""The copy plan: decided once per image, before any blob moves.

:func:`plan_image` answers everything a copy of one image depends on: which manifest
types to try at the destination, in order (containers/image's
``determineManifestConversion``), and for each of them how every layer travels (kept
as it is or recompressed, with OCI or Docker media types, its diffID learnt on the way
or not). A forced type is the only candidate. Otherwise the source's own type comes first
when the destination takes it (no conversion, the digest is kept), then Docker schema2,
then schema1, then whatever else the destination takes. The copy engine tries them in
order and moves to the next one when the destination raises
:class:`~harness.transports.types.ManifestTypeRejectedError`.

:func:`index_type` is the same choice for the index of a ``copy --all``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from harness.model import mediatype
from harness.model.compression import Algorithm, algorithm_for_media_type, layer_media_type
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest
from harness.model.image import ImageManifest
from harness.model.indexconvert import list_type_for
from harness.transports.types import ImageDestination, LayerCompression
from harness.util.errors import HarnessError

PREFERRED = (mediatype.DOCKER_V2S2_MANIFEST, mediatype.DOCKER_V2S1_SIGNED_MANIFEST)


@dataclass(frozen=True)
class TargetPlan:
    """How the layers travel when the manifest is written as ``media_type``."""

    media_type: str
    oci: bool  # recompressed layers get OCI media types
    diff_ids: bool  # learn each layer's uncompressed digest on the way (a conversion needs it)
    compression: Mapping[Digest, Algorithm | None]  # per distinct layer; None: bytes as they are


@dataclass(frozen=True)
class CopyPlan:
    """The candidate manifest types of one image copy, best first, each with its layer plan."""

    targets: tuple[TargetPlan, ...]


def plan_image(image: ImageManifest, destination: ImageDestination, *,
               forced_type: str | None, compression: Algorithm | None,
               signed: bool) -> CopyPlan:
    """The plan for copying *image* to *destination*; raises before anything is written
    when no plan can work (a forced type the destination refuses, zstd for a Docker type).

    A *signed* image goes as it is, whatever format or compression was asked (as in
    containers/image: a change would invalidate the signatures), and the destination takes
    it or refuses.
    """
    if signed:
        desired, candidates = None, [image.media_type]
    else:
        desired = desired_compression(compression, destination)
        candidates = manifest_candidates(image.media_type,
                                         destination.supported_manifest_mime_types(),
                                         forced_type, oci_only=desired is Algorithm.ZSTD)
    if desired is not None:  # refuse zstd for a Docker format before any upload
        layer_media_type(desired, oci=candidates[0] == mediatype.OCI_MANIFEST)
    unique = list({d.digest: d for d in image.layers}.values())
    return CopyPlan(tuple(_target(image, unique, target, desired) for target in candidates))


def _target(image: ImageManifest, unique: list[Descriptor], target: str,
            desired: Algorithm | None) -> TargetPlan:
    diff_ids = image.needs_diff_ids(target)
    recompress = image.layers_to_recompress(target)
    return TargetPlan(target, target == mediatype.OCI_MANIFEST, diff_ids, {
        layer.digest: compression_plan(layer, desired, recompress=layer.digest in recompress)
        for layer in unique})


def desired_compression(asked: Algorithm | None,
                        destination: ImageDestination) -> Algorithm | None:
    """What the layers should become: what was *asked*, else what the destination wants
    (None: keep each as it is)."""
    if asked is not None:
        return asked
    wanted = destination.desired_layer_compression()
    if wanted is LayerCompression.COMPRESS:
        return Algorithm.GZIP
    if wanted is LayerCompression.DECOMPRESS:
        return Algorithm.NONE
    return None


def compression_plan(layer: Descriptor, desired: Algorithm | None, *,
                     recompress: bool) -> Algorithm | None:
    """The algorithm to recompress *layer* to, or None to copy its bytes unchanged.

    *desired* is what the user or the destination asked for (None: keep as is);
    *recompress* forces a new encoding (gzip unless something else was asked), for layers
    the target manifest type cannot describe (zstd in Docker formats). A layer whose
    diffID must be learnt (a schema1 source) is not recompressed for that: it is hashed
    uncompressed on the way, its bytes kept, as containers/image does.
    """
    if recompress:
        return desired or Algorithm.GZIP
    if desired is None or desired is algorithm_for_media_type(layer.media_type):
        return None
    return desired


def manifest_candidates(source_type: str, supported: list[str],
                        forced: str | None = None, *, oci_only: bool = False) -> list[str]:
    """The manifest types to try, best first; *supported* empty means "anything".

    *oci_only* keeps only the OCI type, for layers only it can describe (zstd).
    """
    singles = [t for t in supported if t not in mediatype.INDEXES]
    if forced is not None:
        if supported and forced not in supported:
            raise HarnessError(f"the destination does not accept {forced} manifests; it takes "
                               f"{', '.join(singles)}")
        return [forced]
    if not supported:
        return [mediatype.OCI_MANIFEST if oci_only else source_type]
    ordered = [source_type, *PREFERRED, *singles]
    seen: list[str] = []
    for candidate in ordered:
        if candidate in singles and candidate not in seen \
                and (candidate == mediatype.OCI_MANIFEST or not oci_only):
            seen.append(candidate)
    if not seen:
        wanted = "zstd layers (only OCI describes them)" if oci_only else "a single image"
        raise HarnessError(f"the destination takes no manifest type for {wanted}; it takes "
                           f"{', '.join(supported)}")
    return seen


def index_type(source_type: str, supported: list[str], forced: str | None = None, *,
               oci_only: bool = False) -> str:
    """The index type to write when copying every image of an index: the one a forced
    image type implies, else the source's if the destination takes it, else the other.

    *oci_only* (zstd layers) asks for an OCI index. Raises when the destination keeps no
    index at all (a docker-archive, the local store).
    """
    indexes = [t for t in supported if t in mediatype.INDEXES]
    if supported and not indexes:
        raise HarnessError("the destination cannot store an image index; copy one image "
                           "(without --all)")
    if oci_only and forced is None:
        forced = mediatype.OCI_MANIFEST
    wanted = list_type_for(forced) if forced is not None else None
    if wanted is not None:
        if indexes and wanted not in indexes:
            raise HarnessError(f"the destination does not accept {wanted} indexes; it takes "
                               f"{', '.join(indexes)}")
        return wanted
    if not indexes or source_type in indexes:
        return source_type
    return indexes[0]

