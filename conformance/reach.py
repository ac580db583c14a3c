"""Before any check: is the target a registry we can talk to? If not, say why in words and
what to do about it, in one line (the runner exits 2 with it).

The vocabulary is the command line's (``--insecure``, ``--ca-file``, ``--username``): a
certificate nobody vouches for, nothing listening, HTTP spoken to a TLS port or TLS to an
HTTP port, refused credentials, and a server that is not a registry at all.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import requests

from conformance.client import Client, Target
from harness.util.errors import HarnessError

# What TLS servers answer to plain HTTP: Go's net/http ("Client sent an HTTP request to an
# HTTPS server."), cheroot ("... a plain HTTP request, but this server only speaks HTTPS.").
_SPEAKS_TLS = re.compile(rb"HTTP request to an HTTPS server|only speaks HTTPS")


class Unreachable(HarnessError):
    """The target cannot be checked; the message says why and what to do."""


def check_reachable(target: Target) -> None:
    """Raise :class:`Unreachable` unless ``GET /v2/`` answers like a registry (after
    authenticating)."""
    client, url = Client(target), target.access.url
    try:
        response = client.request("GET", "/v2/")
    except requests.RequestException as exc:
        raise Unreachable(f"cannot reach registry {url}: {why(url, exc)}") from None
    finally:
        client.session.close()
    verdict = not_a_registry(response) or refused(target, response)
    if verdict:
        raise Unreachable(f"registry {url}: {verdict}")


def why(url: str, exc: requests.RequestException) -> str:
    """A connection failure in words, with the remedy."""
    text = str(exc)
    parts = urlsplit(url)
    where = parts.netloc
    if isinstance(exc, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            return ("certificate signed by unknown authority: use --ca-file FILE (the CA that "
                    "signed it) or --insecure")
        if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
            return (f"server gave HTTP response to HTTPS client: {where} speaks plain HTTP, "
                    f"use http://{where}")
        return f"TLS handshake failed ({type(exc).__name__}): check the URL and --ca-file"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer from {where} in time: is it a registry, and is it up?"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "Name or service not known" in text or "NameResolutionError" in text \
                or "nodename nor servname" in text or "Temporary failure in name" in text:
            return f"cannot resolve host {parts.hostname}: check the URL"
        if "Connection refused" in text or "ConnectionRefusedError" in text:
            return f"nothing listening on {where}: is the registry running on that port?"
        if parts.scheme == "http" and ("RemoteDisconnected" in text or "BadStatusLine" in text
                                       or "Connection aborted" in text):
            return (f"{where} closed the connection without an HTTP answer: if it speaks TLS, "
                    f"use https://{where}")
    return f"{type(exc).__name__}: {text.splitlines()[0][:200] if text else 'no detail'}"


def not_a_registry(response: requests.Response) -> str | None:
    """Why ``GET /v2/`` says this is no registry (HTML, or a status the API never gives)."""
    kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if response.status_code == 400 and _SPEAKS_TLS.search(response.content):
        where = urlsplit(response.url).netloc  # a TLS server answering plain HTTP
        return f"{where} speaks TLS (it answered plain HTTP with 400): use https://{where}"
    if response.status_code == 200 and kind in {"text/html", "application/xhtml+xml"}:
        return ("not a registry: GET /v2/ answered 200 with an HTML page (a web server, not the "
                "OCI distribution API); check the URL")
    if response.status_code in {200, 401, 403}:
        return None
    return (f"not a registry: GET /v2/ answered {response.status_code} where a registry "
            "answers 200 or 401; check the URL")


def refused(target: Target, response: requests.Response) -> str | None:
    """Why the registry refused us, with the flags that fix it."""
    if response.status_code not in {401, 403}:
        return None
    if target.access.credentials is None and target.access.token is None:
        return (f"the registry answered {response.status_code} on /v2/: it needs credentials, "
                "give --username/--password or --token")
    return (f"the registry refused the credentials ({response.status_code} on /v2/): "
            "check --username/--password or --token")
