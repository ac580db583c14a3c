"""Backoff on connection errors, 5xx and 429 (Retry-After); 4xx is reported at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
import responses

from harness.transports.docker.client import (
    RegistryClient,
    RegistryConnectionError,
    RegistryUnreachableError,
)
from harness.transports.docker.errors import RegistryError, parse_error_body
from harness.transports.docker.retry import parse_retry_after
from harness.transports.types import SystemContext
from harness.util.retry import MAX_DELAY, RetryPolicy
from tests._support.dockerhelp import BASE, REPO

URL = f"{BASE}/v2/{REPO}/manifests/v1"


def _calls(mocked: responses.RequestsMock, url: str = URL) -> int:
    return sum(1 for call in mocked.calls if call.request.url == url)


def test_delay_is_fixed_as_buildahs_and_doubles_without_one() -> None:
    assert [RetryPolicy(times=10, delay=0.5).backoff(n) for n in range(3)] == [0.5] * 3
    policy = RetryPolicy(times=10, delay=None)  # containers/common: 1s, 2s, 4s ...
    assert [policy.backoff(n) for n in range(4)] == [1.0, 2.0, 4.0, 8.0]
    assert policy.backoff(20) == MAX_DELAY
    assert policy.backoff(0, 7.0) == 7.0
    assert policy.backoff(0, 100000.0) == MAX_DELAY


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=10.0) == 20.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:30 GMT", now=99.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("\u00b2") is None  # isdigit() says yes, float() refuses
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_with_the_delay(
        anonymous_ping: responses.RequestsMock, make_client: Callable[..., RegistryClient],
        sleeps: list[float], status: int) -> None:
    anonymous_ping.get(URL, status=status)
    anonymous_ping.get(URL, status=status)
    anonymous_ping.get(URL, body=b"{}")
    response = make_client().request("GET", URL, ok=(200,))
    assert response.content == b"{}"
    assert sleeps == [0.5, 0.5]


def test_429_honours_retry_after(anonymous_ping: responses.RequestsMock,
                                 make_client: Callable[..., RegistryClient],
                                 sleeps: list[float]) -> None:
    anonymous_ping.get(URL, status=429, headers={"Retry-After": "4"},
                       json={"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]})
    anonymous_ping.get(URL, body=b"ok")
    make_client().request("GET", URL, ok=(200,)).close()
    assert sleeps == [4.0]


def test_connection_errors_are_retried(anonymous_ping: responses.RequestsMock,
                                       make_client: Callable[..., RegistryClient],
                                       sleeps: list[float]) -> None:
    anonymous_ping.get(URL, body=requests.ConnectionError("connection reset by peer"))
    anonymous_ping.get(URL, body=b"ok")
    make_client().request("GET", URL, ok=(200,)).close()
    assert sleeps == [0.5]


def test_retries_are_bounded_and_the_last_error_is_reported(
        anonymous_ping: responses.RequestsMock, make_client: Callable[..., RegistryClient],
        sleeps: list[float]) -> None:
    anonymous_ping.get(URL, status=503, json={"errors": [
        {"code": "UNAVAILABLE", "message": "try later", "detail": {"why": "maintenance"}}]})
    with pytest.raises(RegistryError) as caught:
        make_client(times=2).request("GET", URL, ok=(200,))
    error = caught.value
    assert (error.status, error.code, error.message) == (503, "UNAVAILABLE", "try later")
    assert error.detail == '{"why": "maintenance"}'
    assert _calls(anonymous_ping) == 3 and sleeps == [0.5, 0.5]


def test_connection_failures_end_in_one_line_error(
        anonymous_ping: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    anonymous_ping.get(URL, body=requests.ConnectionError("refused"))
    with pytest.raises(RegistryUnreachableError) as caught:
        make_client(times=1).request("GET", URL, ok=(200,))
    assert "\n" not in str(caught.value) and "/v2/ns/app/manifests/v1" in str(caught.value)
    assert _calls(anonymous_ping) == 2


@pytest.mark.parametrize(("status", "code"), [(400, "MANIFEST_INVALID"), (404, "MANIFEST_UNKNOWN"),
                                              (403, "DENIED"), (400, "DIGEST_INVALID")])
def test_4xx_is_not_retried_and_keeps_its_code(
        anonymous_ping: responses.RequestsMock, make_client: Callable[..., RegistryClient],
        sleeps: list[float], status: int, code: str) -> None:
    anonymous_ping.put(URL, status=status, json={"errors": [{"code": code, "message": "no"}]})
    with pytest.raises(RegistryError) as caught:
        make_client().request("PUT", URL, ok=(201,), data=b"{}")
    assert (caught.value.code, caught.value.status) == (code, status)
    assert str(caught.value) == f"PUT /v2/ns/app/manifests/v1: HTTP {status} {code} no"
    assert _calls(anonymous_ping) == 1 and sleeps == []


def test_streamed_bodies_are_sent_once(anonymous_ping: responses.RequestsMock,
                                       make_client: Callable[..., RegistryClient]) -> None:
    anonymous_ping.patch(URL, status=503)
    with pytest.raises(RegistryError):
        make_client().request("PATCH", URL, ok=(202,), data=iter([b"a", b"b"]))
    assert _calls(anonymous_ping) == 1


def test_error_bodies_that_are_not_distribution_errors() -> None:
    assert parse_error_body(b"<html>bad gateway</html>") == []
    assert parse_error_body(b'{"errors": "nope"}') == []
    assert parse_error_body(b'[1]') == []


def test_code_from_status_when_the_body_has_none(
        anonymous_ping: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    anonymous_ping.delete(URL, status=405, body=b"method not allowed")
    with pytest.raises(RegistryError) as caught:
        make_client().request("DELETE", URL, ok=(202,))
    assert caught.value.code == "UNSUPPORTED"


def test_ping_falls_back_to_http_only_without_verification(
        mocked: responses.RequestsMock, make_client: Callable[..., RegistryClient]) -> None:
    mocked.get(f"{BASE}/v2/", body=requests.exceptions.SSLError("wrong version number"))
    mocked.get("http://registry.test/v2/", status=200)
    assert make_client(times=0, tls_verify=False).base_url == "http://registry.test"
    with pytest.raises(RegistryConnectionError,
                       match="server gave HTTP response to HTTPS client: use --tls-verify=false"):
        _ = make_client(times=3).base_url
    # Verification on: plain http is never tried.
    assert sum(c.request.url == "http://registry.test/v2/" for c in mocked.calls) == 1


def test_redirect_loops_are_reported_not_retried(
        anonymous_ping: responses.RequestsMock, make_client: Callable[..., RegistryClient],
        sleeps: list[float]) -> None:
    anonymous_ping.get(URL, status=302, headers={"Location": URL})
    with pytest.raises(RegistryConnectionError, match="TooManyRedirects"):
        make_client().request("GET", URL, ok=(200,))
    assert sleeps == []


def test_docker_hub_is_reached_at_its_api_host(mocked: responses.RequestsMock,
                                               sleeps: list[float]) -> None:
    mocked.get("https://registry-1.docker.io/v2/", status=200)
    client = RegistryClient("docker.io", "library/busybox", SystemContext(),
                            retry=RetryPolicy(0, 0, sleep=sleeps.append))
    assert client.base_url == "https://registry-1.docker.io"
