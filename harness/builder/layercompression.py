"""What buildah 1.28's copy does to a local image's layers, for each kind of destination.

``push`` and ``commit`` hand the image to containers/image 5.23's copy, which asks the
destination what it wants (``DesiredLayerCompression``) and compresses, decompresses or
keeps each layer accordingly (``copy/compression.go``). ``-D/--disable-compression``
reaches that decision only through two system-context fields buildah sets from it
(``pkg/parse.SystemContextFromFlagSet``; ``Builder.Commit``): ``DirForceCompress``
without ``-D`` and ``OCIAcceptUncompressedLayers`` with it. ``push`` loses the second one:
libimage's copier (containers/common 0.50) overwrites it with its own option, which
``buildah.Push`` leaves false. So ``-D`` changes only a ``dir:`` push, and a push to a
registry or an OCI layout is compressed whatever ``-D`` says (observed with buildah
1.28.2; docs/cli.md has the table).
"""

from __future__ import annotations

from harness.model.compression import Algorithm
from harness.model.transportref import DIR, DOCKER, DOCKER_ARCHIVE, OCI, OCI_ARCHIVE
from harness.transports.types import LayerCompression


def desired(transport: str, *, dir_force_compress: bool,
            oci_accept_uncompressed: bool) -> LayerCompression:
    """containers/image 5.23's ``DesiredLayerCompression`` of a *transport*'s destination.

    A registry always compresses, ``docker-archive:`` always decompresses, an OCI layout
    compresses unless told to accept uncompressed layers, ``dir:`` keeps what it gets
    unless forced; the stores (``containers-storage:``, ``docker-daemon:``, and this
    project's ``harness-store:`` like them) keep what they get.
    """
    if transport == DOCKER:
        return LayerCompression.COMPRESS
    if transport == DOCKER_ARCHIVE:
        return LayerCompression.DECOMPRESS
    if transport in (OCI, OCI_ARCHIVE):
        return LayerCompression.PRESERVE if oci_accept_uncompressed else LayerCompression.COMPRESS
    if transport == DIR and dir_force_compress:
        return LayerCompression.COMPRESS
    return LayerCompression.PRESERVE


def written(wanted: LayerCompression, source: Algorithm, asked: Algorithm | None) -> Algorithm:
    """The compression of a layer whose blob is *source* once copied to a destination that
    *wanted* it so; *asked* is ``--compression-format`` (None: gzip where one compresses).
    A compressed layer is recompressed only to a different format that was asked for."""
    if wanted is LayerCompression.DECOMPRESS:
        return Algorithm.NONE
    if wanted is LayerCompression.PRESERVE:
        return source
    if source is Algorithm.NONE:
        return asked or Algorithm.GZIP
    return asked or source


def push_compression(transport: str, *, disable: bool, asked: Algorithm | None) -> Algorithm:
    """``buildah push [-D] [--compression-format F]`` to a *transport*: the store serves
    every layer uncompressed, and only ``DirForceCompress`` follows ``-D``."""
    wanted = desired(transport, dir_force_compress=not disable, oci_accept_uncompressed=False)
    return written(wanted, Algorithm.NONE, asked)


def commit_compression(transport: str, layers: Algorithm) -> Algorithm | None:
    """``buildah commit`` to a *transport* with its new layer built as *layers* (none with
    ``-D``, buildah's default; gzip with ``-D=false``): what every layer becomes, or None
    where the destination keeps each layer as buildah's image source serves it (the base
    image's uncompressed, the new one as built)."""
    disable = layers is Algorithm.NONE
    wanted = desired(transport, dir_force_compress=not disable, oci_accept_uncompressed=disable)
    return None if wanted is LayerCompression.PRESERVE else written(wanted, layers, None)
