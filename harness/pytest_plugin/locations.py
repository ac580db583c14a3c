"""Where an image is and how to reach it: a reference plus the SystemContext it needs.

Registry handles (``registry.at("app:v1")``) and built images both satisfy
:class:`Locatable`, so the assertion helpers take either, or a ``transport:reference``
string for local layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from harness.transports.types import ImageReference, SystemContext


class Locatable(Protocol):
    @property
    def reference(self) -> ImageReference: ...

    @property
    def ctx(self) -> SystemContext: ...


@dataclass(frozen=True)
class ImageAt:
    """An image reference and the context (credentials, TLS, retries) to open it with."""

    reference: ImageReference
    ctx: SystemContext = field(default_factory=SystemContext, repr=False)  # it shows tokens


def locate(image: Locatable | ImageReference | str) -> Locatable:
    """Accept what users naturally have: a handle, a reference, or ``oci:/path:tag``."""
    if isinstance(image, str):
        from harness.transports.alltransports import parse_image_name  # noqa: PLC0415

        return ImageAt(parse_image_name(image))
    if isinstance(image, ImageReference):
        return ImageAt(image)
    return image
