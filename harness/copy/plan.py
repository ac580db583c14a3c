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
               frozen: bool, served_uncompressed: bool = False) -> CopyPlan:
    """The plan for copying *image* to *destination*; raises before anything is written
    when no plan can work (a forced type the destination refuses, zstd for a Docker type).

    *compression* is the algorithm asked for (skopeo's ``--dest-compress-format``): it is
    used only where the destination compresses (:func:`written_compression`). With
    *served_uncompressed* the layers are decided on as the uncompressed ones
    containers/storage serves (a stored blob already as wanted is still copied as it
    is). A *frozen* image (signed: a change would invalidate the signatures; or
    ``--preserve-digests``) goes as it is, whatever format or compression was asked, as
    in containers/image, and the destination takes it or refuses.
    """
    unique = list({d.digest: d for d in image.layers}.values())
    planned: dict[Digest, Algorithm | None] = dict.fromkeys(d.digest for d in unique)
    if frozen:
        candidates = [image.media_type]
    else:
        wanted = destination.desired_layer_compression()
        for layer in unique:
            stored = algorithm_for_media_type(layer.media_type)
            if stored is not None:  # a known layer type (CanChangeLayerCompression)
                served = Algorithm.NONE if served_uncompressed else stored
                written = written_compression(served, wanted, compression)
                planned[layer.digest] = None if written is stored else written
        zstd = Algorithm.ZSTD in planned.values()
        candidates = manifest_candidates(image.media_type,
                                         destination.supported_manifest_mime_types(),
                                         forced_type, oci_only=zstd)
        if zstd:  # refuse zstd for a Docker format before any upload
            layer_media_type(Algorithm.ZSTD, oci=candidates[0] == mediatype.OCI_MANIFEST)
    return CopyPlan(tuple(_target(image, unique, target, planned) for target in candidates))


def _target(image: ImageManifest, unique: list[Descriptor], target: str,
            planned: Mapping[Digest, Algorithm | None]) -> TargetPlan:
    """*planned* as it is, but for the layers *target* cannot describe (zstd in Docker
    formats): those get a new encoding, gzip unless the plan already has another. A layer
    whose diffID must be learnt (a schema1 source) is not recompressed for that: it is
    hashed uncompressed on the way, its bytes kept, as containers/image does."""
    recompress = image.layers_to_recompress(target)
    return TargetPlan(target, target == mediatype.OCI_MANIFEST, image.needs_diff_ids(target), {
        layer.digest: planned[layer.digest] or Algorithm.GZIP if layer.digest in recompress
        else planned[layer.digest] for layer in unique})


def written_compression(served: Algorithm, wanted: LayerCompression,
                        asked: Algorithm | None) -> Algorithm:
    """The compression a layer *served* so gets at a destination that *wants* its layers
    so, *asked* being the algorithm asked for (None: gzip where one compresses), as
    containers/image 5.23's copy decides (``copy/compression.go``).

    A destination that compresses gets an uncompressed layer compressed, and a compressed
    one recompressed only to a different algorithm that was asked for; one that
    decompresses gets every layer uncompressed; any other keeps each as it is, whatever
    was asked. ``none`` asked where a destination compresses keeps layers uncompressed
    (an extension: containers/image has no such algorithm).
    """
    if wanted is LayerCompression.COMPRESS:
        if served is Algorithm.NONE:
            return asked or Algorithm.GZIP
        return asked or served
    if wanted is LayerCompression.DECOMPRESS:
        return Algorithm.NONE
    return served


def index_oci_only(asked: Algorithm | None, destination: ImageDestination) -> bool:
    """Whether an index copied to *destination* must be an OCI index: its images get zstd
    layers, which only OCI describes (:func:`written_compression` of an uncompressed one)."""
    wanted = destination.desired_layer_compression()
    return written_compression(Algorithm.NONE, wanted, asked) is Algorithm.ZSTD


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

