"""The registry session on ``requests``: a thin adapter to :mod:`.session`'s contract.

The default, for library use and in-process calls: ``responses`` (the in-process fake
registry) reaches requests only. Every requests and urllib3 exception that means "no
complete answer" leaves as a :class:`.session.ConnectionFailed` kind, with it as the cause.
"""

from __future__ import annotations

import contextlib
import ssl
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter

from harness.transports.docker import session as contract

# The CA file requests trusts besides the system's (certifi's). It goes into the shared
# context once (:func:`.tls.ssl_context`'s *bundle*) instead of being loaded into it again by
# urllib3 for every new connection (~17 ms of CPU each): the same trust, the same bytes.
CA_BUNDLE: str = requests.utils.DEFAULT_CA_BUNDLE_PATH

class _ContextAdapter(HTTPAdapter):
    """An adapter whose HTTPS connections use one prepared :class:`ssl.SSLContext`."""

    def __init__(self, context: ssl.SSLContext | None, pool_size: int) -> None:
        self._context = context
        super().__init__(pool_connections=pool_size, pool_maxsize=pool_size)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._context is not None:
            kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """requests' settings, less its CA file: the context holds it already."""
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]  # stubs
        if self._context is not None:
            conn.ca_certs = None


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """requests' and urllib3's failures as the session contract's."""
    try:
        yield
    except requests.ConnectTimeout as exc:
        raise contract.ConnectTimedOut(str(exc)) from exc
    except requests.ReadTimeout as exc:
        raise contract.ReadTimedOut(str(exc)) from exc
    except (requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError) as exc:
        raise contract.BodyCutShort(str(exc)) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise contract.ReadTimedOut(str(exc)) from exc
    except requests.exceptions.SSLError as exc:
        raise contract.TLSFailed(str(exc)) from exc
    except (requests.ConnectionError, urllib3.exceptions.HTTPError, ConnectionError) as exc:
        # The builtin ConnectionError is a socket reset below requests' own wrapping.
        raise contract.ConnectionFailed(str(exc)) from exc
    except requests.RequestException as exc:  # redirect loops, bad URLs
        raise contract.RequestFailed(type(exc).__name__) from exc


class RequestsResponse(contract.Response):
    """A :class:`requests.Response` as the contract's response."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def url(self) -> str:
        return self._response.url

    @property
    def method(self) -> str:
        return self._response.request.method or "?"

    @property
    def content(self) -> bytes:
        with _translated():
            return self._response.content

    @property
    def links(self) -> dict[str, dict[str, str]]:
        return self._response.links

    def json(self) -> Any:
        with _translated():
            return self._response.json()

    def read(self, size: int) -> bytes:
        with _translated():
            data: bytes = self._response.raw.read(size, decode_content=False)
            return data

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        with _translated():
            yield from self._response.iter_content(chunk_size)

    def close(self) -> None:
        self._response.close()


class RequestsSession(contract.Session):
    """A :class:`requests.Session` as the contract's session."""

    def __init__(self, session: requests.Session) -> None:
        self.session = session

    @classmethod
    def build(cls, context: ssl.SSLContext, headers: Mapping[str, str], pool_size: int, *,
              verify: bool) -> RequestsSession:
        """A session with *headers* on every request, HTTPS through *context*, and
        ``trust_env`` off: no ``.netrc`` credentials or proxy settings leak into requests
        the user did not configure."""
        session = requests.Session()
        session.trust_env = False
        session.headers = requests.structures.CaseInsensitiveDict(headers)
        session.verify = verify
        if not verify:
            # The user turned verification off on purpose: no warning on every request.
            warnings.filterwarnings("ignore",
                                    category=urllib3.exceptions.InsecureRequestWarning)
        session.mount("https://", _ContextAdapter(context, pool_size))
        session.mount("http://", _ContextAdapter(None, pool_size))
        return cls(session)

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                params: contract.Params = None, data: contract.Body = None, stream: bool = False,
                timeout: contract.Timeout, allow_redirects: bool = True) -> RequestsResponse:
        with _translated():
            return RequestsResponse(self.session.request(
                method, url, headers=headers, params=params, data=data, stream=stream,
                timeout=timeout, allow_redirects=allow_redirects))

    def close(self) -> None:
        self.session.close()
