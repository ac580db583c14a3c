"""Image names in the local store, spelled the way buildah spells them.

buildah stores ``foo`` as ``localhost/foo:latest``: a name without a registry gets
``localhost/`` (not ``docker.io/library/``, since a local build came from nowhere), and a
name without tag or digest gets ``:latest``. Looking an image up tries what the user
typed, that local form, the docker-normalised form, then IDs.
"""

from __future__ import annotations

from harness.model.reference import Reference
from harness.model.transportref import parse_transport_reference
from harness.store.records import Image
from harness.store.store import ImageUnknownError, Store
from harness.transports.harness_store import HarnessStoreReference

LOCAL_DOMAIN = "localhost"


def _has_domain(text: str) -> bool:
    first, slash, _ = text.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == LOCAL_DOMAIN)


def _tagged(text: str) -> str:
    ref = Reference.parse(text)
    return str(ref.with_tag("latest") if ref.tag is None and ref.digest is None else ref)


def local_name(text: str) -> str:
    """The stored form of *text* (``foo`` -> ``localhost/foo:latest``); raise
    ``ReferenceError`` naming the rule *text* breaks."""
    return _tagged(text if _has_domain(text) else f"{LOCAL_DOMAIN}/{text}")


def name_candidates(text: str) -> list[str]:
    """What *text* may be stored as: itself, its local form, its docker-normalised form."""
    found = [text]
    for normalise in (local_name, _tagged):
        try:
            found.append(normalise(text))
        except ValueError:
            continue
    return found


def find_image(store: Store, text: str) -> Image | None:
    """The image *text* names in *store* (a name in any usual spelling, or an ID)."""
    for candidate in name_candidates(text):
        image = store.find_image(candidate)
        if image is not None:
            return image
    return None


def matched_name(text: str, image: Image) -> str | None:
    """The stored name by which *text* found *image* (libimage's resolved name: ``foo``
    -> ``localhost/foo:latest``), None when *text* named it otherwise (an ID)."""
    return next((c for c in name_candidates(text) if c in image.names), None)


def base_name(text: str, image: Image) -> str:
    """The name buildah records for the base image *text* found (``FromImage``): the
    stored name it matched (``foo`` -> ``localhost/foo:latest``; a pulled transport
    reference -> the name it was stored under, without the transport), else *text*."""
    matched = matched_name(text, image)
    if matched is not None:
        return matched
    return image.names[0] if image.names and text not in (image.id, f"sha256:{image.id}") \
        else text


def resolve_image(store: Store, text: str) -> Image:
    image = find_image(store, text)
    if image is None:
        raise ImageUnknownError(text)
    return image


def stored_reference(store: Store, text: str) -> tuple[Image, HarnessStoreReference]:
    """The stored image *text* names and a ``harness-store:`` reference to it by ID,
    bound to *store* (so a copy reads the store the caller has open)."""
    image = resolve_image(store, text)
    return image, HarnessStoreReference(parse_transport_reference(f"harness-store:{image.id}"),
                                   store)
