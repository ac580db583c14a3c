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

from harness.builder.names import stored_reference
from harness.model.compression import Algorithm
from harness.model.mediatype import FORMAT_NAMES
from harness.model.transportref import has_transport_prefix
from harness.store.store import Store
from harness.transports.types import SystemContext

_FORMATS = ("oci", "v2s1", "v2s2")
_COMPRESSIONS = {"gzip": Algorithm.GZIP, "zstd": Algorithm.ZSTD, "none": Algorithm.NONE}


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def _flag(parser: argparse.ArgumentParser, name: str, help_text: str) -> None:
    """A ``--name`` / ``--name=false`` boolean, true by default (Go's flag style)."""
    parser.add_argument(name, type=_bool, nargs="?", const=True, default=True,
                        metavar="BOOL", help=help_text)


def _context(args: argparse.Namespace, *, tls_verify: bool, creds: str | None,
             cert_dir: Path | None, retries: int, retry_delay: float = 1.0) -> SystemContext:
    credentials = None
    if creds:  # only registries take credentials: a local copy never loads the client
        from harness.transports.docker.credentials import parse_creds  # noqa: PLC0415
        credentials = parse_creds(creds)
    return SystemContext(
        store_root=args.root,
        credentials=credentials,
        auth_file=args.authfile,
        tls_verify=tls_verify,
        cert_dir=cert_dir,
        retry_times=retries,
        retry_delay=retry_delay,
    )


def _copy(args: argparse.Namespace) -> int:
    from harness.copy.engine import CopyOptions, ImageListSelection  # noqa: PLC0415
    from harness.copy.retry import copy_with_retries  # noqa: PLC0415
    from harness.transports.alltransports import parse_image_name  # noqa: PLC0415

    src = parse_image_name(args.src)
    dest = parse_image_name(args.dest)
    options = CopyOptions(
        source_ctx=_context(args, tls_verify=args.src_tls_verify, creds=args.src_creds,
                            cert_dir=args.src_cert_dir, retries=args.retry_times,
                            retry_delay=args.retry_delay),
        dest_ctx=_context(args, tls_verify=args.dest_tls_verify, creds=args.dest_creds,
                          cert_dir=args.dest_cert_dir, retries=args.retry_times,
                          retry_delay=args.retry_delay),
        manifest_type=FORMAT_NAMES[args.format] if args.format else None,
        compression=_COMPRESSIONS[args.dest_compress_format]
        if args.dest_compress_format else None,
        compression_level=args.dest_compress_level,
        report_writer=None if args.quiet else sys.stdout,
        signature_policy_path=args.policy,
        remove_signatures=args.remove_signatures,
        image_list_selection=ImageListSelection("all" if args.all else args.multi_arch),
    )
    result = copy_with_retries(dest, src, options, retries=args.retry_times,
                               delay=args.retry_delay)
    if args.digestfile is not None:
        result.write_digest(args.digestfile)
    return 0


def _push(args: argparse.Namespace) -> int:
    from harness.builder.push import PushOptions, push  # noqa: PLC0415

    options = PushOptions(
        compression=_COMPRESSIONS[args.compression_format],
        compression_level=args.compression_level,
        signature_policy_path=args.signature_policy,
        report_writer=None if args.quiet else sys.stdout,
        system_context=_context(args, tls_verify=args.tls_verify, creds=args.creds,
                                cert_dir=args.cert_dir, retries=args.retry,
                                retry_delay=args.retry_delay),
        manifest_type=args.format,
        remove_signatures=args.remove_signatures,
        max_retries=args.retry,
        retry_delay=args.retry_delay,
        digest_file=args.digestfile,
    )
    push(args.image, args.dest or args.image, options)
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from harness.transports import alltransports  # noqa: PLC0415
    from harness.transports.inspect import inspect_image  # noqa: PLC0415

    ctx = _context(args, tls_verify=args.tls_verify, creds=args.creds, cert_dir=args.cert_dir,
                   retries=args.retry_times)
    if has_transport_prefix(args.ref):
        out = inspect_image(alltransports.parse_image_name(args.ref), ctx, raw=args.raw,
                            config=args.config)
    else:  # a local image, as buildah inspect takes it: its ID leads the summary
        image, ref = stored_reference(Store.open(args.root), args.ref)
        out = inspect_image(ref, ctx, raw=args.raw, config=args.config)
        if isinstance(out, dict):
            out = {"Id": image.id, **out}
    if isinstance(out, bytes):
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    else:
        print(json.dumps(out, indent=4))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``copy``, ``push`` and ``inspect`` to *sub*."""
    copy = sub.add_parser("copy", help="copy an image between any two transports (skopeo)")
    where = ("TRANSPORT:REF: docker://, oci:, oci-archive:, dir:, docker-archive:, "
             "containers-storage: (buildah's and podman's store) or harness-store: "
             "(this project's store, --root)")
    copy.add_argument("src", metavar="SRC", help=where)
    copy.add_argument("dest", metavar="DEST", help=where)
    copy.add_argument("--format", "-f", choices=_FORMATS, help="manifest type to write")
    copy.add_argument("--all", "-a", action="store_true",
                      help="copy every image of an index, and the index (--multi-arch all)")
    copy.add_argument("--multi-arch", choices=("system", "all"), default="system",
                      help="from an index: the image for this machine (default), or all")
    _flag(copy, "--src-tls-verify", "verify the source registry's TLS certificate")
    _flag(copy, "--dest-tls-verify", "verify the destination registry's TLS certificate")
    copy.add_argument("--src-creds", metavar="USER[:PASS]")
    copy.add_argument("--dest-creds", metavar="USER[:PASS]")
    copy.add_argument("--src-cert-dir", type=Path, metavar="DIR")
    copy.add_argument("--dest-cert-dir", type=Path, metavar="DIR")
    copy.add_argument("--authfile", type=Path, metavar="FILE")
    copy.add_argument("--dest-compress-format", choices=sorted(_COMPRESSIONS))
    copy.add_argument("--dest-compress-level", type=int, metavar="N")
    copy.add_argument("--digestfile", type=Path, metavar="FILE",
                      help="write the digest of the written manifest here")
    copy.add_argument("--retry-times", type=int, default=3, metavar="N",
                      help="retries of requests, and of the whole copy on 5xx/429/unreachable")
    copy.add_argument("--retry-delay", type=float, default=1.0, metavar="SECONDS")
    copy.add_argument("--policy", type=Path, metavar="FILE", help="signature policy file")
    copy.add_argument("--remove-signatures", action="store_true")
    copy.add_argument("--quiet", "-q", action="store_true", help="report nothing")
    copy.set_defaults(func=_copy)

    push_cmd = sub.add_parser("push", help="push an image from the local store (buildah)")
    push_cmd.add_argument("image", metavar="IMAGE")
    push_cmd.add_argument("dest", metavar="DEST", nargs="?",
                          help="TRANSPORT:REF, or a registry reference (docker:// assumed)")
    push_cmd.add_argument("--format", "-f", choices=_FORMATS)
    push_cmd.add_argument("--compression-format", choices=sorted(_COMPRESSIONS), default="gzip")
    push_cmd.add_argument("--compression-level", type=int, metavar="N")
    push_cmd.add_argument("--creds", metavar="USER[:PASS]")
    push_cmd.add_argument("--authfile", type=Path, metavar="FILE")
    _flag(push_cmd, "--tls-verify", "verify the registry's TLS certificate")
    push_cmd.add_argument("--cert-dir", type=Path, metavar="DIR")
    push_cmd.add_argument("--digestfile", type=Path, metavar="FILE")
    push_cmd.add_argument("--retry", type=int, default=3, metavar="N")
    push_cmd.add_argument("--retry-delay", type=float, default=2.0, metavar="SECONDS")
    push_cmd.add_argument("--signature-policy", type=Path, metavar="FILE")
    push_cmd.add_argument("--remove-signatures", action="store_true")
    push_cmd.add_argument("--quiet", "-q", action="store_true")
    push_cmd.set_defaults(func=_push)

    inspect = sub.add_parser("inspect", help="show an image's manifest and config (skopeo)")
    inspect.add_argument("ref", metavar="IMAGE|TRANSPORT:REF",
                         help="a local image (buildah inspect) or any transport reference")
    inspect.add_argument("--raw", action="store_true", help="the manifest bytes as stored")
    inspect.add_argument("--config", action="store_true", help="the image config")
    _flag(inspect, "--tls-verify", "verify the registry's TLS certificate")
    inspect.add_argument("--creds", metavar="USER[:PASS]")
    inspect.add_argument("--authfile", type=Path, metavar="FILE")
    inspect.add_argument("--cert-dir", type=Path, metavar="DIR")
    inspect.add_argument("--retry-times", type=int, default=3, metavar="N")
    inspect.set_defaults(func=_inspect)
