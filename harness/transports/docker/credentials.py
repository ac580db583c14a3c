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
    files = [_runtime_auth_file(env)]
    config_home = Path(env.get("XDG_CONFIG_HOME", str(home / ".config")))
    files.append(config_home / "containers" / "auth.json")
    docker_config = env.get("DOCKER_CONFIG")
    files.append((Path(docker_config) if docker_config else home / ".docker") / "config.json")
    return files


def _runtime_auth_file(env: Mapping[str, str]) -> Path:
    """Where login writes by default: ``$XDG_RUNTIME_DIR/containers/auth.json``, else
    ``/run/containers/UID/auth.json`` (containers/image's getPathToAuth on Linux)."""
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "containers" / "auth.json"
    return Path(f"/run/containers/{os.getuid()}/auth.json")


def default_auth_file(env: Mapping[str, str] | None = None) -> Path:
    """The file ``login`` and ``logout`` change: ``$REGISTRY_AUTH_FILE`` (the tools' flag
    default), else the runtime file containers/image reads first."""
    env = os.environ if env is None else env
    if env.get("REGISTRY_AUTH_FILE"):
        return Path(env["REGISTRY_AUTH_FILE"])
    return _runtime_auth_file(env)


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


def _write_auths(path: Path, document: dict[str, object]) -> None:
    """Write the file as containers/image does: only ``auths`` (and ``credHelpers``) kept,
    Go's MarshalIndent with tabs and sorted keys, no final newline, mode 0600, the
    directory 0700, replaced atomically."""
    kept = {key: document[key] for key in ("auths", "credHelpers") if document.get(key)
            or key == "auths"}
    data = json.dumps(kept, indent="\t", sort_keys=True, separators=(",", ": "))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(data)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _read_document(path: Path) -> dict[str, object]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {"auths": {}}
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"{path}: cannot read the auth file ({type(exc).__name__})")\
            from None
    if not isinstance(document, dict) or not isinstance(document.get("auths", {}), dict):
        raise CredentialsError(f"{path}: \"auths\" must be an object")
    document.setdefault("auths", {})
    return document


def store_credentials(path: Path, registry: str, credentials: Credentials) -> None:
    """Record *credentials* for *registry* (``host[:port][/repo]``) in *path*, as ``login``."""
    document = _read_document(path)
    auths = document["auths"]
    assert isinstance(auths, dict)
    raw = f"{credentials.username}:{credentials.password}".encode()
    auths[registry] = {"auth": base64.b64encode(raw).decode("ascii")}
    _write_auths(path, document)


def remove_credentials(path: Path, registry: str | None) -> bool:
    """Forget *registry* (every registry when None), as ``logout``; False when it was not
    there."""
    document = _read_document(path)
    auths = document["auths"]
    assert isinstance(auths, dict)
    if registry is None:
        document["auths"] = {}
    else:
        keys = [key for key in auths if _normalise_key(key) == registry or key == registry]
        if not keys:
            return False
        for key in keys:
            del auths[key]
    _write_auths(path, document)
    return True


def stored_username(path: Path, registry: str) -> str | None:
    """The user ``login`` recorded for *registry* in *path* (``--get-login``), or None."""
    auths = _read_auths(path)
    entry = auths.get(_normalise_key(registry))
    found = _decode_entry(path, registry, entry) if entry is not None else None
    return found.username if found is not None else None
