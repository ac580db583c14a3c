"""The ``oci-archive:FILE[:REF]`` transport: an OCI layout packed in a tar file.

Like containers/image, the source extracts the archive to a temporary layout and reads it
with the ``oci:`` code (only what the layout names, each blob at most its declared size:
see :mod:`harness.transports.archivelayout`); the destination writes a temporary layout
and packs it into the file at publish, replacing the file atomically (a failed copy
leaves the old file).
"""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

from harness.model.transportref import parse_transport_reference
from harness.transports import blobfiles
from harness.transports.archivelayout import unpack_layout
from harness.transports.oci import OCIImageDestination, OCIImageSource, OCILayout
from harness.transports.pathtransport import PathReference, PathTransport
from harness.transports.types import (
    ImageDestination,
    ImageReference,
    ImageSource,
    SystemContext,
    Transport,
)
from harness.util.fs import atomic_writer
from harness.util.scratch import ScratchDir, sweep

EXTRACT_PREFIX = "oci-harness-archive-"


class OCIArchiveTransport(PathTransport):
    name = "oci-archive"

    def parse_reference(self, reference: str) -> ImageReference:
        parsed = parse_transport_reference(f"{self.name}:{reference}")
        return OCIArchiveReference(parsed.path or "", parsed.image_name or "")


class OCIArchiveReference(PathReference):
    @property
    def transport(self) -> Transport:
        return TRANSPORT

    def new_image_source(self, ctx: SystemContext) -> ImageSource:
        return OCIArchiveImageSource(self)

    def new_image_destination(self, ctx: SystemContext) -> ImageDestination:
        return OCIArchiveImageDestination(
            self, accept_uncompressed=ctx.oci_accept_uncompressed_layers)


def extraction_dir() -> ScratchDir:
    """Where an archive is extracted: the system's temporary folder (``$TMPDIR``), after
    removing what killed runs left there."""
    parent = Path(tempfile.gettempdir())
    sweep(parent, EXTRACT_PREFIX)
    return ScratchDir(parent, EXTRACT_PREFIX)


class OCIArchiveImageSource(OCIImageSource):
    def __init__(self, ref: OCIArchiveReference) -> None:
        self._tmp = extraction_dir()
        try:
            unpack_layout(ref.resolved, self._tmp.path)
            super().__init__(ref, OCILayout(self._tmp.path), ref.image)
        except BaseException:
            self._tmp.close()
            raise

    def close(self) -> None:
        self._tmp.close()


class OCIArchiveImageDestination(OCIImageDestination):
    def __init__(self, ref: OCIArchiveReference, *, accept_uncompressed: bool) -> None:
        self._tmp = blobfiles.staging_dir(ref.resolved)
        self._archive = ref.resolved
        super().__init__(ref, OCILayout(self._tmp.path / "layout"), ref.image,
                         accept_uncompressed=accept_uncompressed)

    def publish(self) -> None:
        super().publish()
        with atomic_writer(self._archive) as out, tarfile.open(fileobj=out, mode="w|") as tar:
            for path in sorted(self.layout.root.rglob("*")):
                tar.add(path, arcname=str(path.relative_to(self.layout.root)), recursive=False)

    def close(self) -> None:
        self._tmp.close()


TRANSPORT = OCIArchiveTransport()
