"""Which manifest types to try at a destination, in order (containers/image's
``determineManifestConversion``).

A forced type is the only candidate. Otherwise the source's own type comes first when the
destination takes it (no conversion, the digest is kept), then Docker schema2, then
schema1, then whatever else the destination takes. The copy engine tries them in order and
moves to the next one when the destination rejects a manifest as MANIFEST_INVALID or
TAG_INVALID.
"""

from __future__ import annotations

from harness.model import mediatype
from harness.model.indexconvert import list_type_for
from harness.util.errors import HarnessError

PREFERRED = (mediatype.DOCKER_V2S2_MANIFEST, mediatype.DOCKER_V2S1_SIGNED_MANIFEST)
FALLBACK_CODES = frozenset({"MANIFEST_INVALID", "TAG_INVALID"})


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


def is_fallback_error(exc: BaseException) -> bool:
    """Whether a destination error means "try the next manifest type"."""
    return getattr(exc, "code", None) in FALLBACK_CODES
