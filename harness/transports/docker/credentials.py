"""Where a registry's credentials come from, in containers/image's order.

``--creds`` first, then auth.json (``$REGISTRY_AUTH_FILE`` or the SystemContext's file, else
``$XDG_RUNTIME_DIR/containers/auth.json`` and ``~/.config/containers/auth.json``), then Docker's
``~/.docker/config.json``. Within a file the most specific key wins: ``host/ns/repo`` before
``host/ns`` before ``host``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from harness.transports.types import Credentials, SystemContext
from harness.util.errors import HarnessError

# Docker's convention for an identity token stored in place of a user name.
IDENTITY_TOKEN_USER = "<token>"


class CredentialsError(HarnessError):
    """An auth file exists but cannot be used; the message names the file and the fault."""


def parse_creds(text: str, option: str = "--creds") -> Credentials:
    """Parse ``--creds user[:password]`` (skopeo's spelling; a missing password is empty)."""
    username, _, password = text.partition(":")
    if not username:
        raise CredentialsError(f"{option}: the user name is empty (expected USER[:PASSWORD])")
    return Credentials(username, password)


def auth_file_candidates(ctx: SystemContext, env: Mapping[str, str] | None = None) -> list[Path]:
    """The auth files to read, first match wins."""
    env = os.environ if env is None else env
    if ctx.auth_file is not None:
        return [ctx.auth_file]
    if env.get("REGISTRY_AUTH_FILE"):
        return [Path(env["REGISTRY_AUTH_FILE"])]
    home = Path(env.get("HOME", str(Path.home())))
    files = []
    if env.get("XDG_RUNTIME_DIR"):
        files.append(Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json")
    config_home = Path(env.get("XDG_CONFIG_HOME", str(home / ".config")))
    files.append(config_home / "containers" / "auth.json")
    docker_config = env.get("DOCKER_CONFIG")
    files.append((Path(docker_config) if docker_config else home / ".docker") / "config.json")
    return files


def _normalise_key(key: str) -> str:
    """``https://host/v1/`` and ``host`` both name ``host`` (Docker writes the former)."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):].split("/", 1)[0]
    key = key.rstrip("/")
    return "docker.io" if key == "index.docker.io" else key


def _scopes(registry: str, repository: str) -> Iterator[str]:
    """``host/a/b``, ``host/a``, ``host``: keys that may hold credentials, most specific first."""
    parts = repository.split("/") if repository else []
    for end in range(len(parts), 0, -1):
        yield "/".join([registry, *parts[:end]])
    yield registry


def _decode_entry(path: Path, key: str, entry: object) -> Credentials | None:
    if not isinstance(entry, dict):
        raise CredentialsError(f"{path}: the entry for {key} is not an object")
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials("", token)
    encoded = entry.get("auth")
    if not encoded:
        return None
    try:
        decoded = base64.b64decode(str(encoded), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise CredentialsError(f"{path}: the auth field for {key} is not base64 of user:password")\
            from None
    username, sep, password = decoded.partition(":")
    if not sep:
        raise CredentialsError(f"{path}: the auth field for {key} has no ':' after the user")
    return Credentials(username, password)


def _read_auths(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{path}: cannot read the auth file ({type(exc).__name__})")\
            from None
    auths = document.get("auths", {}) if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        raise CredentialsError(f"{path}: \"auths\" must be an object")
    return {_normalise_key(key): value for key, value in auths.items()}


def lookup_credentials(ctx: SystemContext, registry: str, repository: str = "",
                       env: Mapping[str, str] | None = None) -> Credentials | None:
    """The credentials for *registry* (``host[:port]``) and *repository*, or None (anonymous)."""
    if ctx.credentials is not None or ctx.no_credentials:
        return ctx.credentials
    for path in auth_file_candidates(ctx, env):
        auths = _read_auths(path)
        for key in _scopes(registry, repository):
            if key in auths:
                found = _decode_entry(path, key, auths[key])
                if found is not None:
                    return found
    return None
