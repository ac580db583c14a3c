"""Every transport by name, and ``parse_image_name`` (containers/image's ``alltransports``).

``parse_image_name("oci:/srv/layout:v1")`` picks the transport named before the first
``:`` and lets it parse the rest, so each transport keeps its own syntax rules.
"""

from __future__ import annotations

from harness.transports import (
    containers_storage,
    directory,
    docker,
    docker_archive,
    oci,
    oci_archive,
)
from harness.transports.types import ImageReference, Transport
from harness.util.errors import HarnessError

TRANSPORTS: dict[str, Transport] = {
    t.name: t
    for t in (
        docker.TRANSPORT,
        oci.TRANSPORT,
        oci_archive.TRANSPORT,
        directory.TRANSPORT,
        docker_archive.TRANSPORT,
        containers_storage.TRANSPORT,
    )
}


def get_transport(name: str) -> Transport:
    """The transport called *name*; a one-line error listing the known ones otherwise."""
    transport = TRANSPORTS.get(name)
    if transport is None:
        raise HarnessError(
            f"unknown transport {name!r}; known: {', '.join(sorted(TRANSPORTS))}")
    return transport


def parse_image_name(text: str) -> ImageReference:
    """Parse ``transport:reference`` into the transport's :class:`ImageReference`."""
    name, colon, rest = text.partition(":")
    if not colon:
        raise HarnessError(
            f"invalid image name {text!r}: expected colon-separated transport:reference")
    return get_transport(name).parse_reference(rest)
