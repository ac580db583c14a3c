"""The HTTP client the checks use: one registry, its credentials, and a record of exchanges.

Every request a check makes is recorded (credentials masked) so the report can show the
exchange that decided the check. Authentication follows the registry's challenge
(Basic, or Bearer through the token realm) the way containers/image does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3

from conformance.cleanup import Ledger
from harness.model.access import RegistryAccess
from harness.transports.docker.auth import Authenticator, Challenge, repository_scope
from harness.transports.docker.requests_session import RequestsResponse, RequestsSession
from harness.util.errors import HarnessError

MASK = "<masked>"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
_BODY_EXCERPT = 2048


class BrokenResponse(AssertionError):
    """The registry sent fewer body bytes than it announced: a broken rule, not a check bug."""


@dataclass(frozen=True)
class Target:
    """Where the checks run: how to reach the registry (the project's one
    :class:`RegistryAccess`: URL, credentials or token, TLS trust) and what is the suite's
    own: the two repositories, a name for reports, whether each check gets its own."""

    access: RegistryAccess
    namespace: str = "conformance/test"
    crossmount_namespace: str = "conformance/other"
    name: str = "registry"
    isolate: bool = False
    """Give every check its own repositories under the namespaces (for registries we own)."""

    def __post_init__(self) -> None:
        if not self.access.url:
            raise HarnessError("a conformance target needs the registry's URL")

    def to_plain(self) -> dict[str, Any]:
        """JSON values for an xdist worker (secrets included: never for a report)."""
        return {"access": self.access.to_plain(), "namespace": self.namespace,
                "crossmount_namespace": self.crossmount_namespace, "name": self.name,
                "isolate": self.isolate}

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> Target:
        return cls(RegistryAccess.from_plain(data["access"]), data["namespace"],
                   data["crossmount_namespace"], data["name"], bool(data["isolate"]))


@dataclass
class Exchange:
    """One request and its response, as shown in the report."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: str
    status: int
    response_headers: dict[str, str]
    response_body: str

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _excerpt(body: bytes | None) -> str:
    if not body:
        return ""
    head = body[:_BODY_EXCERPT]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes of binary data>"
    return text + (f"... ({len(body)} bytes)" if len(body) > _BODY_EXCERPT else "")


def mask(text: str, secrets: Iterable[str]) -> str:
    """*text* with every secret replaced by :data:`MASK` (longest first, so a secret that
    contains another is masked whole)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def _masked(headers: Mapping[str, str], secrets: Iterable[str]) -> dict[str, str]:
    return {key: MASK if key.lower() in _SECRET_HEADERS else mask(value, secrets)
            for key, value in headers.items()}


_API_PATH = re.compile(r"/v2/(.+?)/(?:blobs|manifests|tags|referrers)/")


def scopes_for(method: str, url: str, params: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The token scopes a request needs, asked for up front as containers/image does: pull to
    read, pull,push to write, delete for any DELETE, and pull on the source of a mount."""
    parts = urlsplit(url)
    found = _API_PATH.match(parts.path)
    if found is None:
        return ()
    if method in {"GET", "HEAD"}:
        actions: tuple[str, ...] = ("pull",)
    elif method == "DELETE":  # distribution asks delete even to cancel an upload
        actions = ("delete",)
    else:
        actions = ("pull", "push")
    scopes = [repository_scope(found.group(1), actions)]
    query = {**dict(parse_qsl(parts.query)), **(params or {})}
    if query.get("from"):
        scopes.append(repository_scope(query["from"], ("pull",)))
    return tuple(scopes)


@dataclass
class Client:
    """Requests against one registry; records every exchange in :attr:`exchanges`."""

    target: Target
    exchanges: list[Exchange] = field(default_factory=list)
    session: requests.Session = field(default_factory=requests.Session)
    _auth: Authenticator = field(init=False)
    ledger: Ledger = field(default_factory=Ledger)
    """What this client's requests stored, for the sweep after the check."""
    _secrets: set[str] = field(default_factory=set)
    """The password, the token, and every credential sent (Basic or Bearer): a registry may
    echo request headers into a body, so none of them may reach a report."""

    def __post_init__(self) -> None:
        access = self.target.access
        self._auth = Authenticator(RequestsSession(self.session), access.credentials,
                                   access.token)
        # Proxies from the environment are looked up once, not on every request.
        self.session.proxies = requests.utils.get_environ_proxies(access.url)
        self.session.trust_env = False
        self.session.verify = access.verify
        if access.insecure:  # asked for (--insecure): not worth a warning a request
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.session.headers["Docker-Distribution-API-Version"] = "registry/2.0"
        self._secrets.update(access.secrets)

    def url(self, path: str) -> str:
        """An absolute URL for a ``/v2/...`` path or a ``Location`` the registry returned."""
        if path.startswith(("http://", "https://")):
            return path
        return self.target.access.url + path

    def request(self, method: str, path: str, *, headers: Mapping[str, str] | None = None,
                data: bytes | None = None, params: Mapping[str, str] | None = None,
                stream: bool = False) -> requests.Response:
        """Send one request (re-sent once with credentials after a challenge) and record it.

        With *stream* the body is not read (for answers whose framing may be broken).
        """
        scopes = scopes_for(method, self.url(path), params)

        def send(authorization: str | None) -> requests.Response:
            return self._send(method, path, headers=headers, data=data, params=params,
                              stream=stream, authorization=authorization)

        authorization = self._auth.header(scopes)
        response = send(authorization)
        if response.status_code == 401:
            retry = self._answer_challenge(response, scopes)
            if retry is not None and retry != authorization:
                response = send(retry)
        self.ledger.note(response)
        return response

    def send_as(self, method: str, path: str, authorization: str | None, *,
                params: Mapping[str, str] | None = None) -> requests.Response:
        """Send one request with exactly *authorization* (None: anonymous), no challenge
        answered, and record it: for checks about what a credential may do."""
        return self._send(method, path, headers=None, data=None, params=params, stream=False,
                          authorization=authorization)

    @property
    def challenge(self) -> Challenge | None:
        """The registry's last challenge, as learnt from a 401."""
        return self._auth.challenge

    def authorization_for(self, scopes: tuple[str, ...]) -> str | None:
        """An ``Authorization`` granting *scopes* only (a fresh token from the realm the
        registry's challenge named), or None when the registry asked for no token."""
        self.request("GET", "/v2/")  # learn the challenge
        challenge = self.challenge
        if challenge is None or not challenge.is_bearer:
            return None
        return self._auth.header(scopes, refresh=True)

    def _send(self, method: str, path: str, *, headers: Mapping[str, str] | None,
              data: bytes | None, params: Mapping[str, str] | None,
              stream: bool, authorization: str | None) -> requests.Response:
        sent = dict(headers or {})
        if authorization:
            sent["Authorization"] = authorization
            self._secrets.add(authorization.partition(" ")[2] or authorization)
        response = self.session.request(method, self.url(path), headers=sent, data=data,
                                        params=params, stream=True, timeout=30)
        if stream:
            response.close()
            response._content = b""
        else:
            try:
                response.content  # noqa: B018 - read the body now, inside the try
            except requests.exceptions.ChunkedEncodingError as exc:
                response.close()
                raise BrokenResponse(f"{method} {response.request.path_url} -> "
                                     f"{response.status_code}: body cut short ({exc})") from exc
        self.record(response)
        return response

    def mask(self, text: str) -> str:
        """*text* with every credential this client knows or sent masked."""
        return mask(text, self._secrets)

    def record(self, response: requests.Response) -> None:
        """Keep *response* and its request (credentials masked, in bodies too) for the report."""
        request = response.request
        body = request.body if isinstance(request.body, bytes) else None
        self.exchanges.append(Exchange(
            method=str(request.method), url=self.mask(str(request.url)),
            request_headers=_masked(request.headers, self._secrets),
            request_body=self.mask(_excerpt(body)), status=response.status_code,
            response_headers=_masked(response.headers, self._secrets),
            response_body=self.mask(_excerpt(response.content))
            if request.method != "HEAD" else "",
        ))

    def _answer_challenge(self, response: requests.Response,
                          scopes: tuple[str, ...]) -> str | None:
        """The Authorization for a retry after a 401 (harness's Authenticator), or None."""
        challenge = self._auth.learn(RequestsResponse(response))
        if challenge is None:
            return None
        asked = challenge.params.get("scope")
        return self._auth.header((*scopes, asked) if asked and asked not in scopes else scopes,
                                 refresh=True)
