"""The transfer commands: ``push`` (buildah's spellings), ``copy`` and ``inspect`` (skopeo's).

Only the parsers are built at import time: ``main`` registers every command for every
run, so each command function imports its implementation (the copy engine, every
transport, requests) itself, and the build commands do not pay for them.

Every command reports a failure as one ``Error: ...`` line (see :mod:`harness.cli.main`);
``--digestfile`` receives the digest of the manifest written, as with the Go tools.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli.options import (
    COMPRESSION_NAMES,
    TRANSFER_FORMATS,
    add_registry_flags,
    add_retry_flags,
    compression,
    manifest_type,
    registry_context,
    retry_budget,
    signature_policy,
)
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.model.digest import Digest
    from harness.transports.types import ImageReference, SystemContext
    from harness.util.cli import Subcommands


def _copy(args: argparse.Namespace) -> int:
    from dataclasses import replace  # noqa: PLC0415  (dataclasses costs --version ~10 ms)

    from harness.copy.engine import CopyOptions, ImageListSelection  # noqa: PLC0415
    from harness.copy.retry import copy_with_retries  # noqa: PLC0415
    from harness.transports.alltransports import parse_image_name  # noqa: PLC0415

    src = parse_image_name(args.src)
    dest = parse_image_name(args.dest)
    budget = retry_budget(args)
    # As skopeo 1.9: the flags tell the destination what it wants (only dir: listens to
    # --dest-compress and --dest-decompress), and --dest-compress-format is the algorithm
    # used where it compresses.
    dest_ctx = replace(registry_context(args, "dest-", budget),
                       docker_archive_additional_tags=_additional_tags(args.additional_tag),
                       oci_accept_uncompressed_layers=args.dest_oci_accept_uncompressed_layers,
                       dir_force_compress=args.dest_compress,
                       dir_force_decompress=args.dest_decompress)
    options = CopyOptions(
        source_ctx=registry_context(args, "src-", budget),
        dest_ctx=dest_ctx,
        manifest_type=manifest_type(args.format),
        compression=compression(args.dest_compress_format) if args.dest_compress_format
        else None,
        compression_level=args.dest_compress_level,
        report_writer=None if args.quiet else sys.stdout,
        signature_policy_path=signature_policy(args, args.policy),
        remove_signatures=args.remove_signatures,
        # As skopeo 1.9: every manifest and layer as it is, --format and the compression
        # flags notwithstanding; a destination that cannot take it so fails.
        preserve_digests=args.preserve_digests,
        image_list_selection=ImageListSelection("all" if args.all else args.multi_arch),
    )
    source_digest = _source_digest(src, options.source_ctx) if args.preserve_digests else None
    result = copy_with_retries(dest, src, options, budget)
    if source_digest is not None and result.digest != source_digest:
        raise HarnessError(f"--preserve-digests: the copy wrote {result.digest}, the source "
                           f"is {source_digest}")
    if args.digestfile is not None:
        result.write_digest(args.digestfile)
    return 0


def _additional_tags(texts: list[str]) -> tuple[str, ...]:
    """skopeo's ``--additional-tag``: each a tagged reference, written fully qualified."""
    from harness.model.reference import Reference, ReferenceError  # noqa: PLC0415

    tags = []
    for text in texts:
        try:
            parsed = Reference.parse(text)
        except ReferenceError as exc:
            raise HarnessError(f"error parsing additional-tag {text!r}: {exc}") from None
        if parsed.tag is None:
            raise HarnessError(f"additional-tag {text!r} must be a tagged reference")
        tags.append(f"{parsed.name}:{parsed.tag}")
    return tuple(tags)


def _source_digest(src: ImageReference, ctx: SystemContext) -> Digest:
    from harness.model.manifest import manifest_digest  # noqa: PLC0415

    with src.new_image_source(ctx) as source:
        return manifest_digest(source.get_manifest()[0])


def _push(args: argparse.Namespace) -> int:
    from harness.builder.push import PushOptions, push  # noqa: PLC0415

    options = PushOptions(
        compression=compression(args.compression_format) if args.compression_format else None,
        disable_compression=args.disable_compression,
        compression_level=args.compression_level,
        signature_policy_path=signature_policy(args, args.signature_policy),
        report_writer=None if args.quiet else sys.stdout,
        system_context=registry_context(args, retries=retry_budget(args)),
        manifest_type=args.format,
        remove_signatures=args.remove_signatures,
        max_retries=args.retry,
        retry_delay=args.retry_delay,
        digest_file=args.digestfile,
        all_images=args.all,
        remove_list=args.rm,
    )
    push(args.image, args.dest or args.image, options)
    return 0


def _manifest_push(args: argparse.Namespace) -> int:
    from harness.builder.listpush import ListPushOptions, StoreName, push_list  # noqa: PLC0415
    from harness.builder.push import destination  # noqa: PLC0415

    result = push_list(StoreName.parse(args.list), destination(args.dest), ListPushOptions(
        all_images=args.all, remove=args.rm, manifest_type=args.format,
        remove_signatures=args.remove_signatures,
        signature_policy_path=signature_policy(args, args.signature_policy),
        report_writer=None if args.quiet else sys.stdout,
        system_context=registry_context(args, retries=retry_budget(args))))
    if args.digestfile is not None:
        result.write_digest(args.digestfile)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from harness.model.transportref import has_transport_prefix  # noqa: PLC0415
    from harness.transports import alltransports  # noqa: PLC0415
    from harness.transports.inspect import inspect_image  # noqa: PLC0415

    ctx = registry_context(args, retries=retry_budget(args))
    if has_transport_prefix(args.ref):
        out = inspect_image(alltransports.parse_image_name(args.ref), ctx, raw=args.raw,
                            config=args.config, tags=not args.no_tags)
    else:  # a local image, as buildah inspect takes it: its ID leads the summary
        from harness.builder.names import stored_reference  # noqa: PLC0415
        from harness.store.store import Store  # noqa: PLC0415

        image, ref = stored_reference(Store.open(args.root), args.ref)
        out = inspect_image(ref, ctx, raw=args.raw, config=args.config,
                            tags=not args.no_tags)
        if isinstance(out, dict):
            out = {"Id": image.id, **out}
    if args.format is not None:
        from harness.cli.gotemplate import render  # noqa: PLC0415

        data = json.loads(out) if isinstance(out, bytes) else out
        print(render(args.format, data))
    elif isinstance(out, bytes):
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    else:
        print(json.dumps(out, indent=4))
    return 0


def register(sub: Subcommands) -> None:
    """Add ``copy``, ``push``, ``manifest`` and ``inspect`` to *sub*."""
    sub.add_command("copy", help="copy an image between any two transports (skopeo)",
                    arguments=_copy_arguments)
    sub.add_command("push", help="push an image from the local store (buildah)",
                    arguments=_push_arguments)
    sub.add_command("manifest", help="manifest lists in buildah's store (buildah)",
                    arguments=_manifest_arguments)
    sub.add_command("inspect", help="show an image's manifest and config (skopeo)",
                    arguments=_inspect_arguments)


def _copy_arguments(copy: argparse.ArgumentParser) -> None:
    where = ("TRANSPORT:REF: docker://, oci:, oci-archive:, dir:, docker-archive:, "
             "containers-storage: (buildah's and podman's store) or harness-store: "
             "(this project's store, --root)")
    copy.add_argument("src", metavar="SRC", help=where)
    copy.add_argument("dest", metavar="DEST", help=where)
    copy.add_argument("--format", "-f", choices=TRANSFER_FORMATS, help="manifest type to write")
    copy.add_argument("--all", "-a", action="store_true",
                      help="copy every image of an index, and the index (--multi-arch all)")
    copy.add_argument("--multi-arch", choices=("system", "all"), default="system",
                      help="from an index: the image for this machine (default), or all")
    add_registry_flags(copy, "src-", skopeo=True)
    add_registry_flags(copy, "dest-", skopeo=True)
    copy.add_argument("--authfile", type=Path, metavar="FILE",
                      help="auth file for both registries (--src-/--dest-authfile win)")
    copy.add_argument("--dest-compress", action="store_true",
                      help="compress layers written to dir: (default: as the source)")
    copy.add_argument("--dest-decompress", action="store_true",
                      help="decompress layers written to dir: (default: as the source)")
    copy.add_argument("--dest-oci-accept-uncompressed-layers", action="store_true",
                      help="keep uncompressed layers written to oci:/oci-archive: "
                           "(default: compress them)")
    copy.add_argument("--additional-tag", action="append", default=[], metavar="NAME:TAG",
                      help="another tag for a docker-archive: destination (repeatable)")
    copy.add_argument("--preserve-digests", action="store_true",
                      help="copy every manifest and layer as it is (--format and the "
                           "compression flags are ignored); fail where that cannot be")
    copy.add_argument("--dest-compress-format", choices=COMPRESSION_NAMES,
                      help="the algorithm for layers the destination compresses (docker://, "
                           "oci:, oci-archive:, dir: with --dest-compress; default gzip)")
    copy.add_argument("--dest-compress-level", type=int, metavar="N")
    copy.add_argument("--digestfile", type=Path, metavar="FILE",
                      help="write the digest of the written manifest here")
    add_retry_flags(copy, buildah=False)
    copy.add_argument("--policy", type=Path, metavar="FILE", help="signature policy file")
    copy.add_argument("--remove-signatures", action="store_true")
    copy.add_argument("--quiet", "-q", action="store_true", help="report nothing")
    copy.set_defaults(func=_copy)


def _push_arguments(push_cmd: argparse.ArgumentParser) -> None:
    push_cmd.add_argument("image", metavar="IMAGE")
    push_cmd.add_argument("dest", metavar="DEST", nargs="?",
                          help="TRANSPORT:REF, or a registry reference (docker:// assumed)")
    push_cmd.add_argument("--format", "-f", choices=TRANSFER_FORMATS)
    push_cmd.add_argument("--compression-format", choices=COMPRESSION_NAMES,
                          help="for the layers a destination compresses (default: gzip)")
    push_cmd.add_argument("--compression-level", type=int, metavar="N")
    push_cmd.add_argument("--disable-compression", "-D", action="store_true",
                          help="don't compress layers written to dir: (as buildah 1.28: "
                               "registries and OCI layouts get them compressed anyway)")
    add_registry_flags(push_cmd)
    push_cmd.add_argument("--digestfile", type=Path, metavar="FILE")
    add_retry_flags(push_cmd, buildah=True)
    push_cmd.add_argument("--signature-policy", type=Path, metavar="FILE")
    push_cmd.add_argument("--remove-signatures", action="store_true")
    push_cmd.add_argument("--all", action="store_true",
                          help="a list whose image failed to push: push it and all its "
                               "images (buildah 1.28's meaning; see docs/cli.md)")
    push_cmd.add_argument("--rm", action="store_true",
                          help="a list pushed as with --all: remove it afterwards")
    push_cmd.add_argument("--quiet", "-q", action="store_true")
    push_cmd.set_defaults(func=_push)


def _manifest_arguments(manifest: argparse.ArgumentParser) -> None:
    manifest_sub = manifest.add_subparsers(dest="manifest_command", metavar="COMMAND",
                                           required=True)
    mpush = manifest_sub.add_parser("push", help="push a manifest list (buildah manifest push)")
    mpush.add_argument("list", metavar="containers-storage:[DRIVER@ROOT+RUNROOT]LIST")
    mpush.add_argument("dest", metavar="TRANSPORT:REF")
    mpush.add_argument("--all", action="store_true", help="also push the images in the list")
    mpush.add_argument("--rm", action="store_true",
                       help="remove the manifest list if push succeeds")
    mpush.add_argument("--format", "-f", choices=("oci", "v2s2"),
                       help="manifest type of the images (default: as stored)")
    add_registry_flags(mpush)
    mpush.add_argument("--digestfile", type=Path, metavar="FILE")
    mpush.add_argument("--signature-policy", type=Path, metavar="FILE")
    mpush.add_argument("--remove-signatures", action="store_true")
    mpush.add_argument("--quiet", "-q", action="store_true")
    mpush.set_defaults(func=_manifest_push)


def _inspect_arguments(inspect: argparse.ArgumentParser) -> None:
    inspect.add_argument("ref", metavar="IMAGE|TRANSPORT:REF",
                         help="a local image (buildah inspect) or any transport reference")
    inspect.add_argument("--raw", action="store_true", help="the manifest bytes as stored")
    inspect.add_argument("--config", action="store_true", help="the image config")
    inspect.add_argument("--format", "-f", metavar="TEMPLATE",
                         help="print with a Go template: {{.Digest}}, {{json .Labels}}, "
                              "{{index .Labels \"key\"}}")
    inspect.add_argument("--no-tags", "-n", action="store_true",
                         help="do not list the repository's tags")
    add_registry_flags(inspect, skopeo=True)
    add_retry_flags(inspect, buildah=False)
    inspect.set_defaults(func=_inspect)
