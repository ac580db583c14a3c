"""Why a registry request failed, in words a user can act on.

:class:`RegistryError` is the registry's own refusal, with its distribution error code.
The code must survive intact: callers read :attr:`RegistryError.code`, and the destination
turns a manifest refused with ``MANIFEST_INVALID`` / ``TAG_INVALID`` into a
``ManifestTypeRejected`` (still this error) so a copy tries its next manifest type.
:func:`connection_failure` words a request that got no HTTP answer at all (nothing
listening, no such host, a certificate not trusted, the wrong scheme, silence) with its
remedy, and says whether another try may help; the command line and ``python -m
conformance`` use it with their own spellings of the remedies (:class:`Remedies`).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.transports.docker.session import (
    BodyCutShort,
    ConnectTimedOut,
    ReadTimedOut,
    Response,
    TLSFailed,
)
from harness.transports.types import TransientError
from harness.util.errors import HarnessError

_MAX_ERROR_BODY = 64 * 1024  # an error body is small; a hostile one must not fill memory
# Codes the registry did not spell out in a body, by HTTP status (distribution's meanings).
_CODE_BY_STATUS = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND", 405: "UNSUPPORTED",
                   416: "RANGE_INVALID", 429: "TOOMANYREQUESTS"}


@dataclass(frozen=True)
class Remedies:
    """How a command spells the remedies an error line suggests (conformance has its own)."""

    tls: str = "use --tls-verify=false or --cert-dir DIR"
    plain_http: str = "use --tls-verify=false to allow plain http"
    login: str = "check --creds or run `python -m harness login`"
    client_cert: str = "put NAME.cert and NAME.key in --cert-dir DIR"


CLI_REMEDIES = Remedies()


@dataclass(frozen=True)
class ErrorDetail:
    """One entry of the ``{"errors": [...]}`` body."""

    code: str
    message: str
    detail: str


class RegistryError(HarnessError):
    """The registry refused a request; ``code`` is its first error code (``MANIFEST_INVALID``)."""

    def __init__(self, method: str, url: str, status: int, errors: list[ErrorDetail]) -> None:
        self.method = method
        self.path = urlsplit(url).path  # never the query: upload state tokens are noise
        self.status = status
        self.errors = errors
        first = errors[0] if errors else ErrorDetail(_CODE_BY_STATUS.get(status, ""), "", "")
        self.code = first.code
        self.message = first.message
        self.detail = first.detail
        what = " ".join(part for part in (first.code, first.message) if part) or "no error body"
        if status == 401:  # say what to do: the usual cause is missing or wrong credentials
            super().__init__(f"{method} {self.path}: HTTP 401 {what}: the registry answered "
                             f"401: {CLI_REMEDIES.login}")
        else:
            super().__init__(f"{method} {self.path}: HTTP {status} {what}")

    @classmethod
    def from_response(cls, response: Response) -> RegistryError:
        """Build the error from a failed response, reading its (small) error body: a
        :class:`RegistryBusyError` for a 5xx or a 429."""
        body = next(response.iter_content(_MAX_ERROR_BODY), b"")
        status = response.status_code
        kind = RegistryBusyError if status >= 500 or status == 429 else cls
        return kind(response.method, response.url, status, parse_error_body(body))


class RegistryBusyError(RegistryError, TransientError):
    """A 5xx or a 429 that the request's own retries did not get past: the registry may
    answer later, so starting the whole copy again may pass (a 4xx never does)."""


class ProtocolError(HarnessError):
    """The registry answered something the distribution spec does not allow."""


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def parse_error_body(body: bytes) -> list[ErrorDetail]:
    """The entries of a distribution error body; empty when the body is not one."""
    try:
        document = json.loads(body)
    except ValueError:
        return []
    entries = document.get("errors") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return []
    return [ErrorDetail(_text(e.get("code")), _text(e.get("message")), _text(e.get("detail")))
            for e in entries if isinstance(e, dict)]


@dataclass(frozen=True)
class ConnectionFailure:
    """Why no answer came from a registry, in words, and whether another try may help.

    ``retryable`` follows containers/common's rules: a reset or a timeout may pass, so may
    a refusal from a registry that answered before; a DNS failure, a TLS verification
    failure and the wrong scheme never do, and neither does a refusal on the first contact.
    """

    message: str
    retryable: bool


def _causes(exc: BaseException) -> list[BaseException]:
    """The chain of exceptions under *exc* (the session's failure, then the library's
    exceptions down to the OS's: requests wraps urllib3, which keeps its reason in args)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
        if current is None and chain[-1].args:  # urllib3 keeps its reason in args, not cause
            inner = [a for a in chain[-1].args if isinstance(a, BaseException)]
            reason = getattr(chain[-1], "reason", None)
            current = reason if isinstance(reason, BaseException) else (
                inner[0] if inner else None)
    return chain


def connection_failure(exc: BaseException, host: str, port: int, *, first_contact: bool,
                       timeout: float | None = None,
                       remedies: Remedies = CLI_REMEDIES) -> ConnectionFailure:
    """Word the failure of a request to ``host:port`` that got no HTTP answer.

    *first_contact* is true while the registry has never answered: a refusal then means
    nothing is there (no retry), later it may be a restart (retry).
    """
    where = f"{host}:{port}"
    chain = _causes(exc)
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            if cause.verify_code in _UNKNOWN_AUTHORITY:
                reason = "certificate signed by unknown authority"
            return ConnectionFailure(f"{where}: {reason}: {remedies.tls}", retryable=False)
        if isinstance(cause, (ssl.SSLError, TLSFailed)) and any(
                mark in str(cause).lower() for mark in _PLAIN_HTTP_MARKS):
            return ConnectionFailure(
                f"{where}: server gave HTTP response to HTTPS client: {remedies.plain_http}",
                retryable=False)
        if isinstance(cause, socket.gaierror):
            return ConnectionFailure(f"cannot resolve {host}: no such host", retryable=False)
        if isinstance(cause, ConnectionRefusedError):
            return ConnectionFailure(f"nothing listening on {where}", retryable=not first_contact)
    if any(isinstance(c, ConnectTimedOut) for c in chain):
        return ConnectionFailure(f"no connection to {where} within {_secs(timeout)}",
                                 retryable=not first_contact)
    if any(isinstance(c, (ReadTimedOut, TimeoutError)) for c in chain):
        return ConnectionFailure(
            f"{where} accepted the connection but sent no answer within {_secs(timeout)}",
            retryable=not first_contact)
    if any(isinstance(c, ssl.SSLError) for c in chain):  # a handshake that failed otherwise
        last = next(c for c in chain if isinstance(c, ssl.SSLError))
        if last.reason in _CLIENT_CERT_REFUSED:
            return ConnectionFailure(f"{where}: the registry asks for a client certificate: "
                                     f"{remedies.client_cert}", retryable=False)
        return ConnectionFailure(f"{where}: TLS handshake failed ({last.reason or last}): "
                                 f"{remedies.tls}", retryable=False)
    return ConnectionFailure(f"connection to {where} failed: {_broken(chain)}", retryable=True)


def https_only_answer(status: int, body: bytes) -> bool:
    """Whether a plain-http request reached a TLS port: Go's servers (net/http, so
    distribution and most registries) answer 400 "Client sent an HTTP request to an HTTPS
    server.", the fake registry 400 "... this server only speaks HTTPS."."""
    head = body[:1024]
    return status == 400 and (b"HTTP request to an HTTPS server" in head
                              or b"only speaks HTTPS" in head)


def _broken(chain: list[BaseException]) -> str:
    """How an established connection broke, in words."""
    for cause in chain:
        if isinstance(cause, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(cause, http.client.RemoteDisconnected):
            return "the registry closed the connection without answering"
        if isinstance(cause, (http.client.IncompleteRead, BodyCutShort)):
            return "the answer was cut short"
    innermost = chain[-1]  # never its text: a library may quote request headers in it
    if isinstance(innermost, OSError) and innermost.strerror:
        return innermost.strerror.lower()
    return type(innermost).__name__


# The alerts a server sends when the client certificate it requires is missing or not one
# it accepts: Go's servers (distribution) send bad_certificate, TLS 1.3 defines
# certificate_required for the missing one.
_CLIENT_CERT_REFUSED = frozenset({"SSLV3_ALERT_BAD_CERTIFICATE",
                                  "TLSV13_ALERT_CERTIFICATE_REQUIRED"})
# What an SSL library says when a plain-HTTP server answers a TLS handshake.
_PLAIN_HTTP_MARKS = ("wrong_version_number", "wrong version number", "record layer failure",
                     "unknown_protocol", "http_request")


_UNKNOWN_AUTHORITY = {18, 19, 20, 21}  # X509_V_ERR_{DEPTH_ZERO_SELF_SIGNED,SELF_SIGNED_IN_CHAIN,
#                                       UNABLE_TO_GET_ISSUER_CERT_LOCALLY,UNABLE_TO_VERIFY_LEAF}


def _secs(value: float | None) -> str:
    return "the time allowed" if value is None else f"{value:g}s"
