"""``push``: copy an image from the local store to any destination (buildah's ``Push``).

The image is named as in the store (any spelling buildah accepts, or an ID); a destination
without a transport prefix is a registry reference (``docker://`` is implied), as in
``buildah push``. A push draws on one budget of ``max_retries`` retries, ``retry_delay``
seconds apart, for its requests and for starting over when it failed for a reason that
may pass (see :mod:`harness.util.retry` and :mod:`harness.copy.retry`).

``containers-storage:[driver@root+runroot]NAME`` names an image of buildah's store; a
manifest list there is pushed as buildah 1.28 pushes it (see
:mod:`harness.builder.listpush`): its image for this platform, the list only after that
failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from harness.builder.names import matched_name, stored_reference
from harness.copy.engine import CopyOptions, CopyResult
from harness.copy.retry import copy_with_retries
from harness.model.compression import Algorithm
from harness.model.mediatype import FORMAT_NAMES
from harness.model.reference import Reference
from harness.model.transportref import CONTAINERS_STORAGE, DOCKER_ARCHIVE, has_transport_prefix
from harness.store.store import Store
from harness.transports.alltransports import parse_image_name
from harness.transports.types import ImageReference, SystemContext
from harness.util.errors import HarnessError
from harness.util.retry import RetryPolicy


@dataclass
class PushOptions:
    """buildah's ``PushOptions``; ``manifest_type`` is ``oci``, ``v2s1``, ``v2s2`` or None
    (keep the image's own type). Layers are compressed where the destination compresses
    them (:func:`_compression_context` says how ``disable_compression`` reaches it). The image is
    looked up in ``store``, else in the store at ``store_root`` (else
    ``system_context.store_root``)."""

    compression: Algorithm | None = None  # --compression-format; None: gzip
    disable_compression: bool = False  # -D: see _compression_context()
    compression_level: int | None = None
    signature_policy_path: Path | None = None
    report_writer: TextIO | None = None
    store: Store | None = None
    store_root: Path | None = None
    system_context: SystemContext = field(default_factory=SystemContext)
    manifest_type: str | None = None
    remove_signatures: bool = False
    max_retries: int = 3
    retry_delay: float = 2.0
    digest_file: Path | None = None
    all_images: bool = False  # --all: see push()
    remove_list: bool = False  # --rm: see push()


def destination(text: str) -> ImageReference:
    """Parse ``transport:ref``; a bare reference names a registry image."""
    if has_transport_prefix(text):
        return parse_image_name(text)
    return parse_image_name(f"docker://{text}")


def _source(image: str, options: PushOptions) -> tuple[ImageReference, str | None]:
    """The stored image *image* names (any spelling buildah accepts, or an ID), and the
    stored name it was found by (None: by ID, or in buildah's store by its transport
    name, where libimage resolves no name either)."""
    if image.startswith(f"{CONTAINERS_STORAGE}:"):
        # buildah's store (and its lists) only for its names: a push from ours skips them.
        from harness.builder.listpush import StoreName, image_to_push  # noqa: PLC0415

        return image_to_push(StoreName.parse(image), options.system_context)[0], None
    store = options.store
    if store is None:
        root = options.store_root or options.system_context.store_root
        if root is None:
            raise HarnessError("push: no local store given (store, store_root or --root)")
        store = Store.open(root)
    found, ref = stored_reference(store, image)
    return ref, matched_name(image, found)


def push_context(options: PushOptions, target: ImageReference,
                 name: str | None) -> SystemContext:
    """The destination's context of a push of the image found by *name* to *target*:
    :func:`_compression_context`, and for a ``docker-archive:`` *name* among the archive's
    RepoTags when it is tagged (libimage 0.50's "Buildah compat" tag, after the
    reference's own)."""
    ctx = _compression_context(options)
    if target.transport.name != DOCKER_ARCHIVE or name is None:
        return ctx
    parsed = Reference.parse(name)
    if parsed.tag is None:  # found by a digest
        return ctx
    return replace(ctx, docker_archive_additional_tags=(
        *ctx.docker_archive_additional_tags, f"{parsed.name}:{parsed.tag}"))


def _compression_context(options: PushOptions) -> SystemContext:
    """The destination's context of buildah 1.28's push, which decides what the
    destination wants (containers/image 5.23's ``DesiredLayerCompression``; the copy engine
    asks it). ``-D`` reaches that decision only through two fields buildah sets from it
    (``pkg/parse.SystemContextFromFlagSet``): ``DirForceCompress`` without ``-D``, and
    ``OCIAcceptUncompressedLayers`` with it, which a push loses: libimage's copier
    (containers/common 0.50) overwrites it with its own option, which ``buildah.Push``
    leaves false. So ``-D`` changes only a ``dir:`` push; a registry or an OCI layout gets
    compressed layers whatever ``-D`` says (observed with buildah 1.28.2)."""
    return replace(options.system_context, dir_force_compress=not options.disable_compression,
                   dir_force_decompress=False, oci_accept_uncompressed_layers=False)


def push(image: str, dest: ImageReference | str, options: PushOptions | None = None
         ) -> CopyResult:
    """Push the stored *image* to *dest*; return the manifest written and its digest."""
    options = options or PushOptions()
    if options.manifest_type is not None and options.manifest_type not in FORMAT_NAMES:
        raise HarnessError(f"unknown manifest type {options.manifest_type!r}; "
                           "use oci, v2s1 or v2s2")
    src, name = _source(image, options)  # a list's name: its image for this platform
    target = destination(dest) if isinstance(dest, str) else dest
    ctx = options.system_context
    copy_options = CopyOptions(
        source_ctx=ctx,
        dest_ctx=push_context(options, target, name),
        manifest_type=FORMAT_NAMES[options.manifest_type] if options.manifest_type else None,
        compression=options.compression,
        compression_level=options.compression_level,
        # The store serves its layers uncompressed, as containers/storage does.
        source_layers_uncompressed=True,
        report_writer=options.report_writer,
        signature_policy_path=options.signature_policy_path
        or ctx.signature_policy_path,
        remove_signatures=options.remove_signatures,
    )
    budget = ctx.retries or RetryPolicy(options.max_retries, options.retry_delay).start()
    try:
        result = copy_with_retries(target, src, copy_options, budget)
    except HarnessError as exc:
        if not image.startswith(f"{CONTAINERS_STORAGE}:"):
            raise
        from harness.builder.listpush import ImageNotKnownError  # noqa: PLC0415

        if isinstance(exc, ImageNotKnownError):
            raise
        result = _list_instead(image, target, options, exc)
    if options.digest_file is not None:
        result.write_digest(options.digest_file)
    return result


def _list_instead(image: str, target: ImageReference, options: PushOptions,
                  failure: HarnessError) -> CopyResult:
    """buildah 1.28's fallback: when pushing the image failed for another reason than an
    unknown name, the name may be a list: push it as ``manifest push`` would (every
    instance with ``--all``, removed after with ``--rm``); if that fails too, the
    first failure is the error. The list push keeps the push command's system context
    (:func:`_compression_context`) but not ``--compression-format``: where the destination
    compresses (a ``dir:`` one unless ``-D``), layers get gzip."""
    from harness.builder.listpush import ListPushOptions, StoreName, push_list  # noqa: PLC0415

    try:
        return push_list(StoreName.parse(image), target, ListPushOptions(
            all_images=options.all_images, remove=options.remove_list,
            manifest_type=options.manifest_type, remove_signatures=options.remove_signatures,
            signature_policy_path=options.signature_policy_path,
            report_writer=options.report_writer,
            system_context=_compression_context(options)))
    except HarnessError:
        raise failure from None
