"""Argument parsing and error handling shared by every ``python -m harness`` command.

Each command module exposes ``register(subcommands)``, naming its commands with their help
line and the function that adds each one's arguments (with ``set_defaults(func=...)``);
a command function takes the parsed arguments and returns the exit code. Every command is
listed on every run (``--version`` too), but only the chosen one's arguments are built
(:class:`~harness.util.cli.Subcommands`), and a
command module imports at its top only argparse and the light option helpers; the store,
the builder, the copy engine and the transports (requests, cryptography) are imported by
the command functions that use them (tests/builder/test_builder_startup.py checks the
modules ``--version``, ``--help`` and each command load; docs/bench.md has the figures).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

from harness import __version__
from harness.cli import build, login, transfer
from harness.cli.options import add_global_flags, global_settings
from harness.util.cli import OneLineArgumentParser, Subcommands
from harness.util.errors import HarnessError

EXIT_ERROR = 125  # buildah's and skopeo's exit code for a failed command


def default_root() -> Path:
    """The store root: ``$OCI_HARNESS_ROOT`` or ``~/.local/share/oci-harness``."""
    env = os.environ.get("OCI_HARNESS_ROOT")
    return Path(env) if env else Path.home() / ".local" / "share" / "oci-harness"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="python -m harness",
        description="Build, commit, push and copy container images (buildah/skopeo-like).",
    )
    parser.add_argument("--version", action="version", version=f"oci-harness {__version__}")
    parser.add_argument("--root", type=Path, default=None,
                        help="root of the project's own store, harness-store: (default: "
                             "$OCI_HARNESS_ROOT or ~/.local/share/oci-harness); "
                             "containers-storage: is buildah's and podman's store, found "
                             "through storage.conf or [driver@root+runroot]")
    add_global_flags(parser)
    # Only the chosen command's parser is built (Subcommands); its class is the parser's own.
    sub = cast("Subcommands", parser.add_subparsers(dest="command", metavar="COMMAND",
                                                    required=True, action=Subcommands))
    build.register(sub)
    transfer.register(sub)
    login.register(sub)
    return parser


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The parser, built once per process: building all commands' parsers costs 4-7 ms, a
    fifth of each image's cost when a CI run copies many small images through :func:`main`
    in one process (argparse's parsers keep no state between parses)."""
    return build_parser()


def main(argv: Sequence[str] | None = None,
         prepare: Callable[[], object] | None = None) -> int:
    """Run the command *argv* names; *prepare* (the process-wide set-up of ``python -m
    harness``) runs once the arguments parse, so ``--version`` and ``--help`` skip it."""
    args = _parser().parse_args(argv)
    if prepare is not None:
        prepare()
    if args.root is None:
        args.root = default_root()
    try:
        with global_settings(args):
            code: int = args.func(args)
    except HarnessError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 141
    return code
