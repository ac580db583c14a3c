"""``login`` and ``logout``, as skopeo, buildah and podman spell them.

``login REGISTRY`` checks the credentials against the registry (``GET /v2/`` with them,
containers/image's CheckAuth) and records them in the auth file those tools read:
``--authfile``, else ``$REGISTRY_AUTH_FILE``, else ``$XDG_RUNTIME_DIR/containers/auth.json``
(``/run/containers/UID/auth.json`` without it), written byte for byte as containers/image
writes it. ``--get-login`` prints the user recorded for a registry. ``logout REGISTRY``
(or ``--all``) forgets them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli.options import bool_flag, credentials, registry_context, retry_budget
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.transports.types import Credentials
    from harness.util.cli import Subcommands


def _registry(text: str) -> str:
    """``host[:port][/repo]`` as the tools key it: scheme and trailing slash dropped,
    Docker Hub's aliases folded into ``docker.io``."""
    for prefix in ("https://", "http://", "docker://"):
        text = text.removeprefix(prefix)
    text = text.rstrip("/")
    if not text:
        raise HarnessError("login: a registry is required (HOST[:PORT])")
    return "docker.io" if text in ("index.docker.io", "registry-1.docker.io") else text


def _auth_file(args: argparse.Namespace) -> Path:
    from harness.transports.docker.credentials import default_auth_file  # noqa: PLC0415

    return args.authfile if args.authfile is not None else default_auth_file()


def _password(args: argparse.Namespace, username: str) -> Credentials:
    from harness.transports.types import Credentials  # noqa: PLC0415

    if args.password_stdin:
        if args.password is not None:
            raise HarnessError("--password and --password-stdin cannot be used together")
        return Credentials(username, sys.stdin.readline().rstrip("\r\n"))
    if args.password is not None:
        return Credentials(username, args.password)
    return credentials(username, "--username")


def _login(args: argparse.Namespace) -> int:
    from harness.transports.docker.client import RegistryClient  # noqa: PLC0415
    from harness.transports.docker.credentials import (  # noqa: PLC0415
        store_credentials,
        stored_username,
    )
    from harness.transports.docker.errors import RegistryError  # noqa: PLC0415

    registry = _registry(args.registry)
    path = _auth_file(args)
    if args.get_login:
        user = stored_username(path, registry)
        if user is None:
            raise HarnessError(f"not logged into {registry}")
        print(user)
        return 0
    if not args.username:
        if not sys.stdin.isatty():
            raise HarnessError("login: --username is required without a terminal")
        args.username = input("Username: ")
    creds = _password(args, args.username)
    ctx = registry_context(args, retries=retry_budget(args))
    ctx.credentials = creds
    client = RegistryClient(registry.split("/", 1)[0], "", ctx)
    try:
        client.check_login()
    except RegistryError as exc:
        if exc.status != 401:
            raise
        raise HarnessError(f"authenticating creds for {registry}: the registry refused the "
                           "user name or password (HTTP 401)") from None
    finally:
        client.close()
    store_credentials(path, registry, creds)
    if args.verbose:
        print(f"Used: {path}")
    print("Login Succeeded!")
    return 0


def _logout(args: argparse.Namespace) -> int:
    from harness.transports.docker.credentials import remove_credentials  # noqa: PLC0415

    path = _auth_file(args)
    if args.all:
        remove_credentials(path, None)
        print("Removed login credentials for all registries")
        return 0
    if args.registry is None:
        raise HarnessError("logout: a registry is required (or --all)")
    registry = _registry(args.registry)
    if not remove_credentials(path, registry):
        raise HarnessError(f"not logged into {registry}")
    print(f"Removed login credentials for {registry}")
    return 0


def register(sub: Subcommands) -> None:
    """Add ``login`` and ``logout`` to *sub*."""
    sub.add_command("login", help="check and record credentials for a registry (skopeo/buildah "
                                  "login)", arguments=_login_arguments)
    sub.add_command("logout", help="forget the credentials of a registry (skopeo/buildah "
                                   "logout)", arguments=_logout_arguments)


def _login_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("registry", metavar="REGISTRY", help="HOST[:PORT][/REPOSITORY]")
    p.add_argument("--username", "-u", metavar="USER", help="user name for the registry")
    p.add_argument("--password", "-p", metavar="PASSWORD",
                   help="password (asked for on a terminal when not given)")
    p.add_argument("--password-stdin", action="store_true",
                   help="read the password from the first line of stdin")
    p.add_argument("--authfile", type=Path, metavar="FILE",
                   help="auth file (default: $REGISTRY_AUTH_FILE, else "
                        "$XDG_RUNTIME_DIR/containers/auth.json)")
    p.add_argument("--cert-dir", type=Path, metavar="DIR",
                   help="certificates (*.crt, *.cert, *.key) for the registry")
    bool_flag(p, "--tls-verify", help_text="require HTTPS and verify certificates")
    p.add_argument("--get-login", action="store_true",
                   help="print the user recorded for the registry")
    p.add_argument("--verbose", "-v", action="store_true", help="say which auth file is used")
    p.set_defaults(func=_login)


def _logout_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("registry", metavar="REGISTRY", nargs="?")
    p.add_argument("--all", "-a", action="store_true",
                   help="forget the credentials of every registry in the auth file")
    p.add_argument("--authfile", type=Path, metavar="FILE",
                   help="auth file (default: $REGISTRY_AUTH_FILE, else "
                        "$XDG_RUNTIME_DIR/containers/auth.json)")
    bool_flag(p, "--tls-verify", help_text="accepted for compatibility; logout sends nothing")
    p.set_defaults(func=_logout)
