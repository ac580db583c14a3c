"""Registry authentication: WWW-Authenticate challenges, Basic, and Bearer tokens.

Distribution's token flow: a 401 names a token ``realm`` and ``service``; the client asks the
realm for a token covering ``repository:<repo>:<actions>`` and keeps it until it expires, so
one push asks once. A 401 with ``error="insufficient_scope"`` names the scope it wanted; the
client asks again, once, with that scope added.
"""

from __future__ import annotations

import base64
import functools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.transports.docker.credentials import IDENTITY_TOKEN_USER
from harness.transports.docker.errors import RegistryError
from harness.transports.docker.session import ConnectionFailed, RequestFailed, Response, Session
from harness.transports.types import Credentials
from harness.util.errors import HarnessError

# RFC 7235 auth-param: token=token or token="quoted string".
_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)')
_DEFAULT_TOKEN_LIFETIME = 60.0  # seconds, distribution's token spec default
_EXPIRY_MARGIN = 5.0  # ask again a little before the registry would refuse


class AuthError(HarnessError):
    """The token endpoint refused or answered nonsense (the message never holds a secret)."""


@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` challenge: ``Bearer realm=...,service=...``."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def is_bearer(self) -> bool:
        return self.scheme == "bearer"


def parse_challenge(header: str) -> Challenge | None:
    """Parse the first challenge of a ``WWW-Authenticate`` header; None if there is none."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None or match.end() == position:
            break
        quoted, bare = match.group(2), match.group(3)
        params[match.group(1).lower()] = (re.sub(r"\\(.)", r"\1", quoted)
                                          if quoted is not None else bare)
        position = match.end()
    return Challenge(scheme.lower(), params)


def repository_scope(repository: str, actions: tuple[str, ...]) -> str:
    """The token scope for *actions* on *repository* (``repository:a/b:pull,push``)."""
    return f"repository:{repository}:{','.join(actions)}"


def basic_header(credentials: Credentials) -> str:
    raw = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


@dataclass
class _Token:
    value: str
    expires_at: float


class Authenticator:
    """Turns the registry's challenge into an ``Authorization`` header, caching Bearer tokens.

    Thread-safe: parallel blob uploads share one token per scope set.
    """

    def __init__(self, session: Session, credentials: Credentials | None,
                 registry_token: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._credentials = credentials
        self._registry_token = registry_token
        self._clock = clock
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], _Token] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # the default repr would show the credentials' holder only
        scheme = self._challenge.scheme if self._challenge else "none"
        return f"Authenticator(scheme={scheme}, has_credentials={self._credentials is not None})"

    @property
    def challenge(self) -> Challenge | None:
        return self._challenge

    def learn(self, response: Response) -> Challenge | None:
        """Remember the challenge of a 401; return it (None when the 401 carries none)."""
        header = response.headers.get("WWW-Authenticate", "")
        challenge = parse_challenge(header) if header else None
        if challenge is not None:
            self._challenge = challenge
        return challenge

    def header(self, scopes: tuple[str, ...], refresh: bool = False) -> str | None:
        """The ``Authorization`` value for a request needing *scopes*, or None (anonymous)."""
        if self._registry_token is not None:
            return f"Bearer {self._registry_token}"
        challenge = self._challenge
        if challenge is None:
            return None
        if challenge.is_bearer:
            return f"Bearer {self._bearer(challenge, tuple(sorted(set(scopes))), refresh)}"
        if challenge.scheme == "basic" and self._credentials is not None:
            return basic_header(self._credentials)
        return None

    def _bearer(self, challenge: Challenge, scopes: tuple[str, ...], refresh: bool) -> str:
        with self._lock:
            cached = self._tokens.get(scopes)
            if cached is not None and not refresh and cached.expires_at > self._clock():
                return cached.value
            token = self._fetch_token(challenge, scopes)
            self._tokens[scopes] = token
            return token.value

    def _fetch_token(self, challenge: Challenge, scopes: tuple[str, ...]) -> _Token:
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthError("the registry asked for a Bearer token but named no realm")
        service = challenge.params.get("service")
        creds = self._credentials
        started = self._clock()
        if creds is not None and creds.username in ("", IDENTITY_TOKEN_USER):
            # An identity token is an OAuth2 refresh token (docker login's identitytoken).
            form = {"grant_type": "refresh_token", "refresh_token": creds.password,
                    "client_id": "oci-harness", "scope": " ".join(scopes)}
            if service:
                form["service"] = service
            send = functools.partial(self._session.post, realm, data=form)
        else:
            params: list[tuple[str, str]] = [("scope", scope) for scope in scopes]
            if service:
                params.insert(0, ("service", service))
            headers = {"Authorization": basic_header(creds)} if creds is not None else {}
            send = functools.partial(self._session.get, realm, params=params, headers=headers)
        try:
            response = send(timeout=60)
        except (ConnectionFailed, RequestFailed) as exc:
            raise AuthError(f"token endpoint {realm} unreachable ({type(exc).__name__})")\
                from None
        with response:
            if response.status_code != 200:
                if response.status_code in (401, 403):
                    raise RegistryError.from_response(response)
                raise AuthError(f"token endpoint {realm} answered HTTP {response.status_code}")
            try:
                document = response.json()
            except ValueError:
                raise AuthError(f"token endpoint {realm} answered a body that is not JSON")\
                    from None
        value = document.get("token") or document.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError(f"token endpoint {realm} answered no token")
        lifetime = document.get("expires_in")
        lifetime = float(lifetime) if isinstance(lifetime, int | float) and lifetime > 0 \
            else _DEFAULT_TOKEN_LIFETIME
        return _Token(value, started + max(lifetime - _EXPIRY_MARGIN, 1.0))


def insufficient_scope(challenge: Challenge | None) -> str | None:
    """The scope a 401 ``error="insufficient_scope"`` asks for, else None."""
    if challenge is None or challenge.params.get("error") != "insufficient_scope":
        return None
    return challenge.params.get("scope")
