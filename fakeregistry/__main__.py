"""``python -m fakeregistry serve``: run the fake registry until SIGINT/SIGTERM.

The first stdout line is ``listening on http(s)://HOST:PORT`` (flushed), so scripts can
start it with ``--port 0`` and read the address. Errors print one line and exit 2.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from fakeregistry.auth import AuthConfig, hash_password, read_htpasswd
from fakeregistry.faults import FaultRule
from fakeregistry.profiles import PROFILES
from fakeregistry.registry import Registry
from fakeregistry.server import serve
from fakeregistry.sessions import MAX_UPLOADS, UPLOAD_LIFETIME
from harness.util.cli import OneLineArgumentParser
from harness.util.errors import HarnessError

USERS_ENV = "FAKEREGISTRY_USERS"
"""Users as NAME:PASSWORD entries separated by whitespace, kept out of ``ps``."""


def _port(text: str) -> int:
    """A TCP port; the socket layer would silently wrap 99999 to another port."""
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535)")
    return int(text)


def _positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    """A parser of numbers above 0 (an int or a float, as *kind* reads them)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0")
        return value
    return parse


def _parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog="python -m fakeregistry",
                     description="An in-process OCI registry for tests.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve over HTTP(S) on loopback")
    run.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: loopback only)")
    run.add_argument("--port", type=_port, default=0,
                     help="port to listen on; 0 (the default) picks a free one, printed on "
                          "the first line")
    run.add_argument("--storage", type=Path, metavar="DIR",
                     help="keep content in this directory across runs (default: in memory)")
    run.add_argument("--profile", default="spec", choices=sorted(PROFILES),
                     help="the registry to behave as (default spec: the OCI distribution "
                          "spec); see docs/fakeregistry.md")
    run.add_argument("--auth", default="none", choices=["none", "basic", "token"],
                     help="none (default), basic (the --user accounts), or token (a Bearer "
                          "token endpoint at /token, as distribution's token auth)")
    run.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD",
                     help="a user allowed to push (repeatable; visible in ps: prefer "
                     f"--users-file or ${USERS_ENV})")
    run.add_argument("--users-file", type=Path, metavar="HTPASSWD",
                     help="users from an htpasswd file of bcrypt hashes (htpasswd -B), "
                     "as distribution reads")
    run.add_argument("--anonymous-pull", action="store_true",
                     help="let clients without credentials pull")
    run.add_argument("--tls", action="store_true", help="HTTPS with a generated CA")
    run.add_argument("--record", type=Path, help="append the transcript as JSON lines")
    run.add_argument("--fault", action="append", default=[], metavar="RULE",
                     help="fault rule, e.g. method=PUT,path=/v2/*/manifests/*,status=503")
    run.add_argument("--seed", type=int, default=0, help="seed of random fault choices")
    run.add_argument("--upload-lifetime", type=_positive(float), default=UPLOAD_LIFETIME,
                     metavar="SECONDS", help="drop upload sessions untouched this long "
                     "(default: a week, as distribution)")
    run.add_argument("--max-uploads", type=_positive(int), default=MAX_UPLOADS, metavar="N",
                     help=f"upload sessions open at once; more get 429 (default {MAX_UPLOADS})")
    return parser


def _auth(args: argparse.Namespace) -> AuthConfig:
    """Users from --users-file, then $FAKEREGISTRY_USERS, then --user (a later one wins)."""
    users = read_htpasswd(args.users_file) if args.users_file else {}
    given = [(f"${USERS_ENV}", spec) for spec in os.environ.get(USERS_ENV, "").split()]
    given += [("--user", spec) for spec in args.user]
    for source, spec in given:
        name, sep, password = spec.partition(":")
        if not sep or not name:
            shown = repr(spec) if source == "--user" else "entry"  # never echo a secret
            raise HarnessError(f"{source} {shown}: use NAME:PASSWORD")
        users[name] = hash_password(password)
    if args.auth != "none" and not users and not args.anonymous_pull:
        raise HarnessError(f"--auth {args.auth} needs users (--users-file, ${USERS_ENV} or "
                           "--user NAME:PASSWORD) or --anonymous-pull")
    return AuthConfig(args.auth, users, anonymous_pull=args.anonymous_pull)


def _serve(args: argparse.Namespace) -> None:
    registry = Registry(args.profile, auth=_auth(args), storage_dir=args.storage,
                        seed=args.seed, record=args.record,
                        upload_lifetime=args.upload_lifetime, max_uploads=args.max_uploads)
    for text in args.fault:
        registry.faults.add(FaultRule.parse(text))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with serve(registry, args.host, args.port, tls=args.tls) as server:
        print(f"listening on {server.url}", flush=True)
        if server.ca_file is not None:
            print(f"ca file {server.ca_file}", flush=True)
        stop.wait()
    registry.transcript.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        _serve(args)
    except (HarnessError, OSError) as exc:
        print(f"fakeregistry: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
