"""Authentication and authorisation: none, HTTP Basic (htpasswd bcrypt), or Bearer tokens.

Token mode works like Docker Hub and distribution's token server, served by the fake
itself at ``/token`` (or by another one: ``AuthConfig.realm`` and a shared ``signer``): a
client without a token gets 401 with a ``WWW-Authenticate: Bearer realm=…,service=…,scope=…``
challenge, asks the realm for a token (with Basic credentials or anonymously), and
retries with it. Tokens are JWTs as distribution reads them (:mod:`fakeregistry.tokens`),
expire, and carry the granted ``type:name:actions`` accesses; a valid token without every
needed access is 401 with the challenge naming them and ``error="insufficient_scope"``,
as distribution answers (clients fetch a wider token and retry). Users are all-powerful
unless listed as read-only. A password is checked with bcrypt whoever the user is (an
unknown name against a dummy hash of the same cost), so timing does not tell names.

A registry without auth (most of them, one per test with the pytest plugin) loads neither
bcrypt nor cryptography (the tokens' keys) and hashes nothing: they load, and the dummy hash
is made, with the first registry that checks passwords or signs tokens.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from fakeregistry.errors import RegistryError
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from fakeregistry.tokens import TokenSigner

AuthMode = Literal["none", "basic", "token"]
PULL_ACTIONS = frozenset({"pull"})
ALL_ACTIONS = frozenset({"pull", "push", "delete", "*"})


class AuthConfigError(HarnessError, ValueError):
    """An auth setting that cannot work (unknown mode, bad htpasswd line, bad user spec)."""


@dataclass(frozen=True)
class AuthConfig:
    """Who may do what. ``users`` maps a name to its bcrypt hash (htpasswd format)."""

    mode: AuthMode = "none"
    users: Mapping[str, str] = field(default_factory=dict)
    readonly: frozenset[str] = frozenset()
    anonymous_pull: bool = False
    token_ttl: float = 300.0
    service: str = "fakeregistry"
    realm: str | None = None
    """The token endpoint challenges name; None: this registry's own ``/token``."""
    signer: TokenSigner | None = None
    """Signs and checks tokens; share one with another token server (or give its
    certificate to a real registry) to trust each other's tokens. None: a key of its own."""

    def __post_init__(self) -> None:
        if self.mode not in ("none", "basic", "token"):
            raise AuthConfigError(f"unknown auth mode {self.mode!r}: use none, basic or token")

    @classmethod
    def with_passwords(cls, mode: AuthMode, passwords: Mapping[str, str], *,
                       readonly: frozenset[str] = frozenset(), anonymous_pull: bool = False,
                       token_ttl: float = 300.0, rounds: int = 4) -> AuthConfig:
        """Hash plain passwords (cheap bcrypt rounds: these are test credentials)."""
        users = {name: hash_password(pw, rounds) for name, pw in passwords.items()}
        return cls(mode=mode, users=users, readonly=readonly, anonymous_pull=anonymous_pull,
                   token_ttl=token_ttl)

    @classmethod
    def from_htpasswd(cls, mode: AuthMode, path: Path, **options: object) -> AuthConfig:
        """Users from an htpasswd file of bcrypt hashes (``htpasswd -B``), the only kind
        distribution reads; *options* are the other fields (``readonly``, ...)."""
        return cls(mode=mode, users=read_htpasswd(path), **options)  # type: ignore[arg-type]


def read_htpasswd(path: Path) -> dict[str, str]:
    """name -> bcrypt hash from an htpasswd file; blank lines and ``#`` comments skipped."""
    users: dict[str, str] = {}
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise AuthConfigError(f"cannot read the users file {path}: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise AuthConfigError(f"{path}:{number}: not a bcrypt htpasswd line")
        users[name] = hashed
    return users


def hash_password(password: str, rounds: int = 4) -> str:
    """A bcrypt hash as htpasswd writes it (cheap rounds: these are test credentials)."""
    import bcrypt  # noqa: PLC0415

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@dataclass(frozen=True)
class Scope:
    """``type:name:actions`` as in token requests and challenges."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope | None:
        """``type:name:actions``; the name may hold colons (``host:5000/repo``)."""
        kind, sep, rest = text.partition(":")
        name, sep2, actions = rest.rpartition(":")
        if not sep or not sep2 or not name:
            return None
        return cls(kind, name, frozenset(a for a in actions.split(",") if a))

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"


def _dummy_hash(hashes: Iterable[str]) -> str:
    """A hash no password matches, at the cost (rounds) of the users' own hashes."""
    cost = next((h.split("$")[2] for h in hashes if h.count("$") >= 3), "04")
    return hash_password(os.urandom(16).hex(), int(cost) if cost.isdigit() else 4)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    """Checks each request against an :class:`AuthConfig`; issues and verifies tokens."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._verified: set[tuple[str, bytes]] = set()
        self._lock = threading.Lock()
        if config.mode != "none":  # made now: a first unknown name costs one bcrypt too
            _ = self.dummy_hash

    @functools.cached_property
    def dummy_hash(self) -> str:
        """What an unknown user's password is checked against (see the module's doc)."""
        return _dummy_hash(self.config.users.values())

    # -- credentials -------------------------------------------------------------
    def check_password(self, user: str, password: str) -> bool:
        """bcrypt is slow on purpose; remember successes so each pair costs once. An
        unknown user costs one bcrypt too, against :attr:`dummy_hash`."""
        key = (user, hashlib.sha256(password.encode()).digest())
        with self._lock:
            if key in self._verified:
                return True
        import bcrypt  # noqa: PLC0415

        known = self.config.users.get(user)
        matches = bcrypt.checkpw(password.encode(), (known or self.dummy_hash).encode())
        if known is None or not matches:
            return False
        with self._lock:
            self._verified.add(key)
        return True

    def allowed_actions(self, user: str | None) -> frozenset[str]:
        if user is None:
            return PULL_ACTIONS if self.config.anonymous_pull else frozenset()
        return PULL_ACTIONS if user in self.config.readonly else ALL_ACTIONS

    def basic_user(self, header: str | None) -> tuple[bool, str | None]:
        """(credentials present, user when they are valid) for an Authorization header."""
        if not header or not header.lower().startswith("basic "):
            return False, None
        try:
            user, _, password = _unb64(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return True, None
        return True, (user if self.check_password(user, password) else None)

    # -- tokens ------------------------------------------------------------------
    @functools.cached_property
    def signer(self) -> TokenSigner:
        """The configured signer, or a key of this registry's own (made when first used:
        most registries never issue a token)."""
        from fakeregistry.tokens import TokenSigner  # noqa: PLC0415

        return self.config.signer or TokenSigner.generate(self.config.service)

    def issue(self, user: str | None, scopes: list[Scope]) -> dict[str, object]:
        """A token granting each requested scope's actions that *user* is allowed."""
        allowed = self.allowed_actions(user)
        access = []
        for scope in scopes:
            granted = scope.actions & allowed if "*" not in allowed else scope.actions
            if granted:
                access.append({"type": scope.type, "name": scope.name,
                               "actions": sorted(granted)})
        now = int(time.time())
        token = self.signer.sign({
            "iss": self.signer.issuer, "sub": user or "", "aud": self.config.service,
            "exp": now + int(self.config.token_ttl), "nbf": now, "iat": now,
            "jti": os.urandom(8).hex(), "access": access})
        return {"token": token, "access_token": token,
                "expires_in": int(self.config.token_ttl),
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}

    def token_access(self, token: str) -> set[tuple[str, str, str]] | None:
        """The (type, name, action) a valid, usable token grants; None when it is not."""
        claims = self.signer.verify(token, self.config.service, time.time())
        if claims is None:
            return None
        granted = set()
        for entry in claims.get("access") or []:
            if isinstance(entry, dict) and isinstance(entry.get("actions"), list):
                granted |= {(str(entry.get("type")), str(entry.get("name")), str(action))
                            for action in entry["actions"]}
        return granted

    # -- per request ---------------------------------------------------------------
    def authorize(self, authorization: str | None, needed: tuple[Scope, ...], realm: str) -> None:
        """Raise 401/403 unless the request may do all of *needed* (none: just be
        authenticated, as for ``/v2/``)."""
        mode = self.config.mode
        if mode == "none":
            return
        if mode == "basic":
            self._authorize_basic(authorization, needed)
        else:
            self._authorize_token(authorization, needed, self.config.realm or realm)

    def _authorize_basic(self, authorization: str | None, needed: tuple[Scope, ...]) -> None:
        challenge = {"WWW-Authenticate": f'Basic realm="{self.config.service}"'}
        present, user = self.basic_user(authorization)
        if present and user is None:
            raise RegistryError("UNAUTHORIZED", "invalid username or password",
                                headers=challenge)
        if user is None and not (self.config.anonymous_pull and needed and all(
                scope.actions <= PULL_ACTIONS for scope in needed)):
            raise RegistryError("UNAUTHORIZED", "authentication required", headers=challenge)
        allowed = self.allowed_actions(user)
        for scope in needed:
            if not scope.actions <= allowed:
                raise RegistryError("DENIED", f"requested access to {scope} is denied")

    def _authorize_token(self, authorization: str | None, needed: tuple[Scope, ...],
                         realm: str) -> None:
        """As distribution's token access controller: the Authorization must be exactly
        ``Bearer TOKEN``, and the token must grant every needed action (``*`` is an
        action of its own, not a wildcard)."""
        challenge = f'Bearer realm="{realm}",service="{self.config.service}"'
        if needed:
            challenge += f',scope="{" ".join(str(scope) for scope in needed)}"'
        detail = _access_records(needed)
        parts = (authorization or "").split(" ")
        if len(parts) != 2 or parts[0].lower() != "bearer":
            raise RegistryError("UNAUTHORIZED", "authentication required", detail=detail,
                                headers={"WWW-Authenticate": challenge})
        granted = self.token_access(parts[1])
        if granted is None:
            raise RegistryError("UNAUTHORIZED", "invalid or expired token", detail=detail,
                                headers={"WWW-Authenticate": challenge + ',error="invalid_token"'})
        if any((scope.type, scope.name, action) not in granted
               for scope in needed for action in scope.actions):
            raise RegistryError("UNAUTHORIZED", "authentication required", detail=detail,
                                headers={"WWW-Authenticate":
                                         challenge + ',error="insufficient_scope"'})


def _access_records(needed: tuple[Scope, ...]) -> list[dict[str, str]]:
    """The error detail distribution gives a 401: the accesses the request needed."""
    return [{"Type": scope.type, "Class": "", "Name": scope.name, "Action": action}
            for scope in needed for action in sorted(scope.actions)]
