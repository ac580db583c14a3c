"""The notice of a request left unanswered: one thread for all requests, the same words
at :data:`WAITING_NOTICE` seconds (a fake clock and events drive it: no wall-clock waits)."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from harness.transports.docker import client
from harness.transports.docker.client import RegistryClient
from harness.transports.types import SystemContext
from harness.util import alarms
from harness.util.alarms import AlarmClock
from harness.util.retry import RetryPolicy
from tests._support.dockerhelp import BASE, HOST, REPO
from tests.test_alarms import GUARD, FakeClock


class Said(io.StringIO):
    """A warning stream that tells when a line arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.line = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        if text.endswith("\n"):
            self.line.set()
        return written


@pytest.fixture
def time(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    clock = FakeClock()
    monkeypatch.setattr(alarms, "ALARMS", AlarmClock(clock))
    yield clock


def _client(warn: Said) -> RegistryClient:
    return RegistryClient(HOST, REPO, SystemContext(auth_file=None), ("pull",),
                          retry=RetryPolicy(0, warn=warn))


def test_requests_start_at_most_one_thread(anonymous_ping: responses.RequestsMock,
                                           time: FakeClock,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    anonymous_ping.head(f"{BASE}/v2/{REPO}/blobs/sha256:{'a' * 64}", status=404)
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counted)
    registry = _client(Said())
    for _ in range(20):
        assert registry.blob_size(f"sha256:{'a' * 64}") is None  # type: ignore[arg-type]
    assert len(started) <= 1


def test_a_slow_request_says_it_waits(anonymous_ping: responses.RequestsMock,
                                      time: FakeClock) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(request: Any) -> tuple[int, dict[str, str], bytes]:
        entered.set()
        assert release.wait(GUARD)
        return 200, {"Content-Type": "application/json"}, b'{"name": "ns/app", "tags": []}'

    anonymous_ping.add_callback("GET", f"{BASE}/v2/{REPO}/tags/list", callback=slow)
    warn = Said()
    registry = _client(warn)
    result: list[list[str]] = []
    request = threading.Thread(target=lambda: result.append(registry.list_tags()))
    request.start()
    try:
        assert entered.wait(GUARD)
        assert warn.getvalue() == ""
        time.now += client.WAITING_NOTICE
        alarms.ALARMS.wake()
        assert warn.line.wait(GUARD)
    finally:
        release.set()
        request.join()
    assert result == [[]]
    assert warn.getvalue() == (f"WARN {HOST} has not answered GET /v2/{REPO}/tags/list for "
                               f"{client.WAITING_NOTICE:g}s; waiting up to "
                               f"{client.READ_TIMEOUT:g}s\n")
