"""The media type a layer takes when its manifest is written in another format, and the
layers a format cannot describe (containers/image's layer type rules).

Every copy asks :func:`layers_needing_recompression` of each manifest type it may write,
so this lives apart from the conversions (:mod:`harness.model.convert`), which only a copy
that changes the manifest's type imports.
"""

from __future__ import annotations

from harness.model import mediatype
from harness.model.compression import (
    Algorithm,
    CompressionError,
    algorithm_for_media_type,
    layer_media_type,
)
from harness.model.descriptor import Descriptor
from harness.model.manifest import ManifestError, parse_manifest

_FOREIGN = {
    (Algorithm.NONE, True): mediatype.OCI_LAYER_NONDISTRIBUTABLE,
    (Algorithm.GZIP, True): mediatype.OCI_LAYER_NONDISTRIBUTABLE_GZIP,
    (Algorithm.NONE, False): mediatype.DOCKER_FOREIGN_LAYER,
    (Algorithm.GZIP, False): mediatype.DOCKER_FOREIGN_LAYER_GZIP,
}
_FOREIGN_TYPES = frozenset(_FOREIGN.values())


def converted_media_type(layer: Descriptor, index: int, *, oci: bool) -> str:
    """The media type *layer* gets in the target format (*oci* or Docker), or why it cannot
    have one: :class:`CompressionError` for a compression the format cannot express,
    :class:`ManifestError` for a type no format converts."""
    algorithm = algorithm_for_media_type(layer.media_type)
    if algorithm is None:
        raise ManifestError(
            f"layer {index} ({layer.digest}) has media type {layer.media_type!r}, "
            "which is not a layer type that can be converted"
        )
    if layer.media_type in _FOREIGN_TYPES:
        foreign = _FOREIGN.get((algorithm, oci))
        if foreign is None:
            raise CompressionError(f"no media type for non-distributable {algorithm.value} layers")
        return foreign
    try:
        return layer_media_type(algorithm, oci)
    except CompressionError as exc:
        raise CompressionError(
            f"layer {index} ({layer.digest}) must be recompressed to gzip: {exc}"
        ) from exc


def layers_needing_recompression(manifest_bytes: bytes, source_type: str,
                                 target_type: str) -> list[int]:
    """Indexes of the layers whose compression *target_type* cannot express.

    A layer of a type no format converts (an artifact's) is not listed: it is no matter of
    compression, and :func:`~harness.model.convert.convert_manifest` names it if a
    conversion is tried.
    """
    if source_type in mediatype.SCHEMA1 or source_type == target_type:
        return []
    needs = []
    for i, layer in enumerate(parse_manifest(manifest_bytes, source_type).layers):
        try:
            converted_media_type(layer, i, oci=target_type == mediatype.OCI_MANIFEST)
        except CompressionError:
            needs.append(i)
        except ManifestError:
            continue
    return needs
