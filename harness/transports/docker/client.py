"""One registry repository over HTTP: ping, authenticated requests with retries, and the
distribution API's manifest and blob endpoints.

Every request goes through :meth:`RegistryClient.request`, which adds authorization, repeats
transient failures with backoff and turns refusals into :class:`RegistryError`. Upload
sessions live in :mod:`.upload`; this module only knows single requests.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from typing import Final
from urllib.parse import urljoin, urlsplit

from harness.model import mediatype
from harness.model.digest import Digest, DigestError
from harness.model.limits import MAX_MANIFEST_SIZE
from harness.model.reference import DEFAULT_DOMAIN
from harness.transports.docker.auth import Authenticator, insufficient_scope, repository_scope
from harness.transports.docker.credentials import lookup_credentials
from harness.transports.docker.errors import (
    ConnectionFailure,
    ProtocolError,
    RegistryError,
    connection_failure,
    https_only_answer,
)
from harness.transports.docker.headers import decimal
from harness.transports.docker.retry import (
    TRANSIENT_EXCEPTIONS,
    is_transient_status,
    parse_retry_after,
)
from harness.transports.docker.session import RequestFailed, Response, Session, new_session
from harness.transports.types import SystemContext, TransientError
from harness.util import alarms
from harness.util.errors import HarnessError
from harness.util.retry import Retries, RetryPolicy

CONNECT_TIMEOUT: Final = 30.0  # containers/image's dialer
# Seconds without a byte before a request is given up: the first answer (the ping) and
# reads are quick for any registry; writes may wait on the registry committing a blob.
FIRST_ANSWER_TIMEOUT: Final = 30.0
READ_TIMEOUT: Final = 60.0
WRITE_TIMEOUT: Final = 300.0
WAITING_NOTICE: Final = 10.0  # seconds of silence before a request says it is waiting
_DEADLINE_SLACK: Final = 0.05  # a socket timeout set to end at the deadline may end early
# Every manifest type, so the registry answers with what it holds rather than converting.
MANIFEST_ACCEPT: Final = ", ".join(
    [mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST, mediatype.OCI_INDEX,
     mediatype.DOCKER_MANIFEST_LIST, mediatype.DOCKER_V2S1_SIGNED_MANIFEST,
     mediatype.DOCKER_V2S1_MANIFEST])
DOCKER_HUB_API: Final = "registry-1.docker.io"
Body = bytes | Iterable[bytes] | None


class RegistryUnreachableError(TransientError):
    """A connection to the registry broke in a way that may pass (after the retries allowed)."""


class RegistryConnectionError(HarnessError):
    """No answer from the registry, for a reason another try cannot fix (nothing listening
    on first contact, no such host, an untrusted certificate, the wrong scheme)."""


class OperationTimeoutError(HarnessError):
    """The operation's time limit (``--command-timeout``) passed."""


class RegistryClient:
    """Talks to *repository* on *registry* (``host[:port]``) with the rights *actions* need.

    Thread-safe: the copy engine uploads several blobs through one client at once.
    """

    def __init__(self, registry: str, repository: str, ctx: SystemContext,
                 actions: tuple[str, ...] = ("pull",), *,
                 session: Session | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.registry = registry
        self.repository = repository
        # Docker Hub's API is not served at its reference domain (containers/image does this).
        self._host = DOCKER_HUB_API if registry == DEFAULT_DOMAIN else registry
        self._tls_verify = ctx.tls_verify
        self._session = session if session is not None else new_session(ctx, registry)
        self._auth = Authenticator(self._session, lookup_credentials(ctx, registry, repository),
                                   ctx.registry_token)
        self.retries: Retries = retry.start() if retry is not None else ctx.retry_budget()
        self._scope = repository_scope(repository, actions)
        self._base: str | None = None
        self._ping_lock = threading.Lock()
        host, _, port = self._host.rpartition(":")
        self._hostname, self._port = (host, int(port)) if port.isdigit() else (self._host, 0)

    def __repr__(self) -> str:
        return f"RegistryClient({self.registry}/{self.repository}, {self._auth!r})"

    def close(self) -> None:
        self._session.close()

    # -- plumbing -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]``, found by pinging once."""
        with self._ping_lock:
            if self._base is None:
                self._base = self._ping()
            return self._base

    def _ping(self) -> str:
        """``GET /v2/`` over https, then http when TLS verification is off (containers/image).

        A 401 is a success: it tells which authentication the registry wants. This is the
        first contact: a refusal, a DNS failure, a certificate not trusted or silence fail
        at once, in words (see :mod:`.retry`); a reset or a 5xx draws on the retry budget.
        """
        schemes = ("https", "http") if not self._tls_verify else ("https",)
        while True:
            failure: str | None = None
            retryable = False
            retry_after: float | None = None
            for scheme in schemes:
                base = f"{scheme}://{self._host}"
                timeout = self._timeout(FIRST_ANSWER_TIMEOUT)
                try:
                    with self._waiting("GET", "/v2/", timeout[1]):
                        response = self._session.get(f"{base}/v2/", timeout=timeout)
                except TRANSIENT_EXCEPTIONS as exc:
                    self._check_deadline()
                    described = connection_failure(
                        exc, self._hostname, self._port or (443 if scheme == "https" else 80),
                        first_contact=True, timeout=max(timeout))  # TLS: the handshake
                    # runs under the connect timeout, the answer under the read timeout
                    if failure is None:  # the https failure says more than the http one
                        failure, retryable = described.message, described.retryable
                    continue
                with response:
                    if response.status_code == 401:
                        self._auth.learn(response)
                    if response.status_code in (200, 401):
                        return base
                    if scheme == "http" and https_only_answer(response.status_code,
                                                              response.content):
                        raise RegistryConnectionError(
                            f"pinging registry {self.registry}: {self._host} speaks only "
                            f"HTTPS, and HTTPS failed: {failure}")
                    if not is_transient_status(response.status_code):
                        raise RegistryError.from_response(response)
                    failure, retryable = f"{self.registry}: HTTP {response.status_code}", True
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                    break
            message = f"pinging registry {self.registry}: {failure}"
            if not retryable:
                raise RegistryConnectionError(message)
            if not self.retries.again(message, retry_after):
                raise RegistryUnreachableError(message)

    def _timeout(self, read: float) -> tuple[float, float]:
        """Connect and read timeouts, within what the operation's time limit leaves."""
        self._check_deadline()
        left = self.retries.remaining_time()
        if left is None:
            return CONNECT_TIMEOUT, read
        return min(CONNECT_TIMEOUT, left), min(read, left)

    def _check_deadline(self) -> None:
        """Raise once the operation's time limit has passed (a request cut short by it
        fails with this, not with its own timeout)."""
        left = self.retries.remaining_time()
        if left is not None and left < _DEADLINE_SLACK:
            limit = self.retries.policy.deadline or 0.0
            raise OperationTimeoutError(f"gave up on {self.registry}: the operation's time "
                                        f"limit of {limit:g}s passed")

    @contextlib.contextmanager
    def _waiting(self, method: str, path: str, limit: float) -> Iterator[None]:
        """Say once when a request has gone :data:`WAITING_NOTICE` seconds unanswered."""
        if self.retries.policy.warn is None or limit <= WAITING_NOTICE:
            yield
            return
        message = (f"{self.registry} has not answered {method} {path} for "
                   f"{WAITING_NOTICE:g}s; waiting up to {limit:g}s")
        notice = alarms.ALARMS.set(WAITING_NOTICE, lambda: self.retries.say(message))
        try:
            yield
        finally:
            notice.cancel()

    def _failure(self, exc: Exception, url: str, timeout: float) -> ConnectionFailure:
        """*exc* in words; the registry has answered once, so a refusal may be a restart."""
        parts = urlsplit(url)
        return connection_failure(
            exc, parts.hostname or self._hostname,
            parts.port or (443 if parts.scheme == "https" else 80),
            first_contact=self._base is None, timeout=timeout)

    def check_login(self) -> None:
        """``GET /v2/`` with the credentials (containers/image's CheckAuth): a Basic
        registry checks them there; a Bearer one first gives a token for no scope."""
        base = self.base_url
        authorization = self._auth.header(())
        headers = {"Authorization": authorization} if authorization is not None else {}
        timeout = self._timeout(READ_TIMEOUT)
        try:
            response = self._session.get(f"{base}/v2/", headers=headers, timeout=timeout)
        except TRANSIENT_EXCEPTIONS as exc:
            raise RegistryConnectionError(
                f"logging in to {self.registry}: "
                f"{self._failure(exc, base, timeout[1]).message}") from None
        with response:
            if response.status_code != 200:
                raise RegistryError.from_response(response)

    def url(self, path: str) -> str:
        """The URL of ``/v2/<repository>/<path>``."""
        return f"{self.base_url}/v2/{self.repository}/{path}"

    def resolve(self, location: str) -> str:
        """An absolute URL from a ``Location`` header, which may be relative."""
        return urljoin(self.base_url + "/", location)

    def request(self, method: str, url: str, *, ok: tuple[int, ...],
                headers: dict[str, str] | None = None,
                params: dict[str, str] | None = None, data: Body = None,
                stream: bool = False, extra_scopes: tuple[str, ...] = (),
                repeat: bool = True) -> Response:
        """Send one request, authorized, repeating transient failures; raise on refusals.

        A body that is an iterable (a stream) can be sent only once, and ``repeat=False``
        asks for one attempt: their failures are raised for the caller to resume
        (see :mod:`.upload`).
        """
        replayable = repeat and (data is None or isinstance(data, bytes))
        # The ping learns the challenge first. Credentials go to the registry's own origin
        # only, never to another host a Location header names (upload storage, say).
        own_origin = urlsplit(url).netloc == urlsplit(self.base_url).netloc
        scopes = (self._scope, *extra_scopes)
        refresh = False
        auth_retried = False
        path = urlsplit(url).path
        read = READ_TIMEOUT if method in ("GET", "HEAD", "DELETE") else WRITE_TIMEOUT
        while True:
            send_headers = dict(headers or {})
            authorization = self._auth.header(scopes, refresh=refresh) if own_origin else None
            if authorization is not None:
                send_headers["Authorization"] = authorization
            timeout = self._timeout(read)
            try:
                with self._waiting(method, path, timeout[1]):
                    response = self._session.request(
                        method, url, headers=send_headers, params=params, data=data,
                        stream=stream, timeout=timeout,
                        allow_redirects=method in ("GET", "HEAD"))
            except TRANSIENT_EXCEPTIONS as exc:
                self._check_deadline()
                failure = self._failure(exc, url, timeout[1])
                message = f"{method} {path}: {failure.message}"
                if not failure.retryable:
                    raise RegistryConnectionError(message) from None
                if not replayable or not self.retries.again(message):
                    raise RegistryUnreachableError(message) from None
                continue
            except RequestFailed as exc:  # redirect loops, bad URLs: not transient
                raise RegistryConnectionError(f"{method} {path}: {exc}") from None
            status = response.status_code
            if status in ok:
                return response
            if status == 401 and replayable and own_origin and not auth_retried:
                challenge = self._auth.learn(response)
                wanted = insufficient_scope(challenge)
                if wanted is not None and wanted not in scopes:
                    scopes = (*scopes, wanted)
                if challenge is not None:
                    auth_retried, refresh = True, authorization is not None
                    response.close()
                    continue
            if is_transient_status(status) and replayable:
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if self.retries.again(f"{method} {path}: HTTP {status}", retry_after):
                    response.close()
                    continue
            with response:
                raise RegistryError.from_response(response)

    # -- manifests ------------------------------------------------------------------------

    def get_manifest(self, reference: str) -> tuple[bytes, str, str | None]:
        """The manifest named by tag or digest: its bytes, media type and announced digest.

        A body cut short is fetched again, like any transient failure.
        """
        while True:
            response = self.request("GET", self.url(f"manifests/{reference}"), ok=(200,),
                                    headers={"Accept": MANIFEST_ACCEPT}, stream=True)
            with response:
                try:
                    body = _read_limited(response, MAX_MANIFEST_SIZE, f"manifest {reference}")
                except TRANSIENT_EXCEPTIONS as exc:
                    message = (f"GET manifest {reference}: the body was cut short "
                               f"({self._failure(exc, response.url, READ_TIMEOUT).message})")
                    if not self.retries.again(message):
                        raise RegistryUnreachableError(message) from None
                    continue
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            return body, media_type, response.headers.get("Docker-Content-Digest")

    def put_manifest(self, reference: str, body: bytes, media_type: str) -> str | None:
        """Store a manifest by tag or digest; return the registry's ``Docker-Content-Digest``."""
        response = self.request("PUT", self.url(f"manifests/{reference}"), ok=(200, 201, 202),
                                headers={"Content-Type": media_type}, data=body)
        with response:
            return response.headers.get("Docker-Content-Digest")

    # -- tags -----------------------------------------------------------------------------

    def list_tags(self) -> list[str]:
        """Every tag of the repository, in the registry's order, following ``Link`` pages."""
        tags: list[str] = []
        seen: set[str] = set()
        url: str | None = self.url("tags/list")
        while url is not None:
            if url in seen:
                raise ProtocolError(f"tag list of {self.repository}: the Link header "
                                    f"loops back to {urlsplit(url).path}")
            seen.add(url)
            with self.request("GET", url, ok=(200,)) as response:
                tags += _tag_page(response, self.repository)
                following = response.links.get("next", {}).get("url")
            url = self.resolve(following) if following else None
        return tags

    # -- blobs ----------------------------------------------------------------------------

    def blob_size(self, digest: Digest) -> int | None:
        """The size of a blob the repository has, or None when it has not."""
        try:
            response = self.request("HEAD", self.url(f"blobs/{digest}"), ok=(200,))
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        with response:
            length = decimal(response.headers.get("Content-Length"))
            return -1 if length is None else length

    def get_blob(self, digest: Digest, offset: int = 0) -> Response:
        """A streaming response for the blob from *offset* (206 when the registry honours it).

        Redirects to storage are followed; the session drops ``Authorization`` when the
        host, scheme or port changes, so credentials never reach the storage backend.
        """
        headers = {"Range": f"bytes={offset}-"} if offset else None
        return self.request("GET", self.url(f"blobs/{digest}"), ok=(200, 206), headers=headers,
                            stream=True)

    def mount_blob(self, digest: Digest, source_repository: str) -> str | None:
        """Ask to mount *digest* from *source_repository*; None when mounted, else the
        ``Location`` of the upload session the registry opened instead (202)."""
        response = self.request(
            "POST", self.url("blobs/uploads/"), ok=(201, 202),
            params={"mount": str(digest), "from": source_repository},
            extra_scopes=(repository_scope(source_repository, ("pull",)),))
        with response:
            if response.status_code == 201:
                return None
            return self._location(response)

    def _location(self, response: Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise ProtocolError(f"{response.method} {urlsplit(response.url).path}: "
                                f"HTTP {response.status_code} without a Location header")
        return self.resolve(location)

    def start_upload(self) -> tuple[str, int]:
        """Open an upload session: its URL and the registry's minimum chunk size (0: none)."""
        response = self.request("POST", self.url("blobs/uploads/"), ok=(202,))
        with response:
            minimum = decimal(response.headers.get("OCI-Chunk-Min-Length"))
            return self._location(response), minimum or 0

    def cancel_upload(self, location: str) -> None:
        """Abandon an upload session; a registry that cannot is not an error worth raising."""
        with contextlib.suppress(RegistryError, RegistryUnreachableError):
            self.request("DELETE", location, ok=(200, 202, 204)).close()


def _read_limited(response: Response, limit: int, what: str) -> bytes:
    """The whole (small) body, refusing more than *limit* bytes rather than filling memory."""
    body = bytearray()
    for piece in response.iter_content(64 * 1024):
        body += piece
        if len(body) > limit:
            raise ProtocolError(f"{what} is over the {limit}-byte limit")
    return bytes(body)


def parse_digest_header(value: str | None, what: str) -> Digest | None:
    """The ``Docker-Content-Digest`` header as a digest; a malformed one is the registry's fault."""
    if value is None:
        return None
    try:
        return Digest.parse(value.strip())
    except DigestError:
        raise ProtocolError(f"{what}: the registry sent an invalid Docker-Content-Digest "
                            f"{value!r}") from None


def _tag_page(response: Response, repository: str) -> list[str]:
    """The tags of one tag-list page: ``{"name": ..., "tags": [...] or null}``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    tags = body.get("tags") if isinstance(body, dict) else ()
    if tags is None:
        return []
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ProtocolError(f"tag list of {repository}: expected {{\"tags\": [strings]}}")
    return tags
