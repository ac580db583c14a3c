"""Every transport by name, and ``parse_image_name`` (containers/image's ``alltransports``).

``parse_image_name("oci:/srv/layout:v1")`` picks the transport named before the first
``:`` and lets it parse the rest, so each transport keeps its own syntax rules.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from harness.model import transportref
from harness.transports.types import ImageReference, Transport
from harness.util.errors import HarnessError

_MODULES = {
    transportref.DOCKER: "harness.transports.docker",
    transportref.OCI: "harness.transports.oci",
    transportref.OCI_ARCHIVE: "harness.transports.oci_archive",
    transportref.DIR: "harness.transports.directory",
    transportref.DOCKER_ARCHIVE: "harness.transports.docker_archive",
    transportref.CONTAINERS_STORAGE: "harness.transports.containers_storage",
    transportref.HARNESS_STORE: "harness.transports.harness_store",
    transportref.DOCKER_DAEMON: "harness.transports.docker_daemon",
}


class _Transports(Mapping[str, Transport]):
    """Every transport by name, its module imported when it is first looked up: a copy
    between local transports, or a signature policy naming none, never loads requests
    and the registry client (~0.1 s of start-up)."""

    def __getitem__(self, name: str) -> Transport:
        transport: Transport = importlib.import_module(_MODULES[name]).TRANSPORT
        return transport

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


TRANSPORTS: Mapping[str, Transport] = _Transports()


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
