"""Authentication and authorisation: none, HTTP Basic (htpasswd bcrypt), or Bearer tokens.

Token mode works like Docker Hub and distribution's token server, served by the fake
itself at ``/token``: a client without a token gets 401 with a ``WWW-Authenticate: Bearer
realm=…,service=…,scope=…`` challenge, asks the realm for a token (with Basic
credentials or anonymously), and retries with it. Tokens are HMAC-signed, expire, and
carry the granted ``repository:<name>:<actions>`` scopes; a valid token without the
needed scope is 401 with the challenge naming the scope and ``error="insufficient_scope"``,
as distribution answers (clients fetch a wider token and retry). Users are all-powerful
unless listed as read-only. A password is checked with bcrypt whoever the user is (an
unknown name against a dummy hash of the same cost), so timing does not tell names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import bcrypt

from fakeregistry.errors import RegistryError
from harness.util.errors import HarnessError

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
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


@dataclass(frozen=True)
class Scope:
    """``type:name:actions`` as in token requests and challenges."""

    type: str
    name: str
    actions: frozenset[str]

    @classmethod
    def parse(cls, text: str) -> Scope | None:
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


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    """Checks each request against an :class:`AuthConfig`; issues and verifies tokens."""

    def __init__(self, config: AuthConfig) -> None:
        self.config = config
        self._key = os.urandom(32)
        self._verified: set[tuple[str, bytes]] = set()
        self._lock = threading.Lock()
        self.dummy_hash = _dummy_hash(config.users.values())

    # -- credentials -------------------------------------------------------------
    def check_password(self, user: str, password: str) -> bool:
        """bcrypt is slow on purpose; remember successes so each pair costs once. An
        unknown user costs one bcrypt too, against :attr:`dummy_hash`."""
        key = (user, hashlib.sha256(password.encode()).digest())
        with self._lock:
            if key in self._verified:
                return True
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
    def issue(self, user: str | None, scopes: list[Scope]) -> dict[str, object]:
        """A token granting each requested scope's actions that *user* is allowed."""
        allowed = self.allowed_actions(user)
        access = []
        for scope in scopes:
            granted = scope.actions & allowed if "*" not in allowed else scope.actions
            if granted:
                access.append({"type": scope.type, "name": scope.name,
                               "actions": sorted(granted)})
        now = time.time()
        claims = {"sub": user or "", "iss": self.config.service, "iat": now,
                  "exp": now + self.config.token_ttl, "access": access}
        payload = _b64(json.dumps(claims, sort_keys=True).encode())
        token = f"{payload}.{_b64(self._sign(payload))}"
        return {"token": token, "access_token": token,
                "expires_in": int(self.config.token_ttl),
                "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).digest()

    def token_access(self, token: str) -> list[Scope] | None:
        """The scopes a valid, unexpired token grants; None when it is not valid."""
        payload, _, signature = token.partition(".")
        try:
            if not hmac.compare_digest(_unb64(signature), self._sign(payload)):
                return None
            claims = json.loads(_unb64(payload))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(claims, dict) or float(claims.get("exp", 0)) < time.time():
            return None
        return [Scope(str(a["type"]), str(a["name"]), frozenset(a["actions"]))
                for a in claims.get("access", [])]

    # -- per request ---------------------------------------------------------------
    def authorize(self, authorization: str | None, needed: Scope | None, realm: str) -> None:
        """Raise 401/403 unless the request may do *needed* (None: just be authenticated)."""
        mode = self.config.mode
        if mode == "none":
            return
        if mode == "basic":
            self._authorize_basic(authorization, needed)
        else:
            self._authorize_token(authorization, needed, realm)

    def _authorize_basic(self, authorization: str | None, needed: Scope | None) -> None:
        challenge = {"WWW-Authenticate": f'Basic realm="{self.config.service}"'}
        present, user = self.basic_user(authorization)
        if present and user is None:
            raise RegistryError("UNAUTHORIZED", "invalid username or password",
                                headers=challenge)
        if user is None and not (self.config.anonymous_pull and needed is not None
                                 and needed.actions <= PULL_ACTIONS):
            raise RegistryError("UNAUTHORIZED", "authentication required", headers=challenge)
        if needed is not None and not needed.actions <= self.allowed_actions(user):
            raise RegistryError("DENIED", f"requested access to {needed} is denied")

    def _authorize_token(self, authorization: str | None, needed: Scope | None,
                         realm: str) -> None:
        challenge = f'Bearer realm="{realm}",service="{self.config.service}"'
        if needed is not None:
            challenge += f',scope="{needed}"'
        if not authorization or not authorization.lower().startswith("bearer "):
            raise RegistryError("UNAUTHORIZED", "authentication required",
                                headers={"WWW-Authenticate": challenge})
        access = self.token_access(authorization[7:].strip())
        if access is None:
            raise RegistryError("UNAUTHORIZED", "invalid or expired token",
                                headers={"WWW-Authenticate": challenge + ',error="invalid_token"'})
        if needed is None:
            return
        granted: set[str] = set()
        for scope in access:
            if scope.type == needed.type and scope.name == needed.name:
                granted |= scope.actions
        if not (needed.actions <= granted or "*" in granted):
            raise RegistryError("UNAUTHORIZED", "authentication required",
                                detail=_access_records(needed), headers={
                                    "WWW-Authenticate":
                                        challenge + ',error="insufficient_scope"'})


def _access_records(needed: Scope) -> list[dict[str, str]]:
    """The error detail distribution gives a 401: the accesses the request needed."""
    return [{"Type": needed.type, "Class": "", "Name": needed.name, "Action": action}
            for action in sorted(needed.actions)]
