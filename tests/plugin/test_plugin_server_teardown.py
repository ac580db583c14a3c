"""``fake_registry_server`` (fakeregistry.server.serve) stops cleanly: no thread is left,
the port is closed, and connections kept alive by a client do not hold the stop up."""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from fakeregistry.registry import Registry
from fakeregistry.server import serve


@pytest.mark.parametrize("tls", [False, True])
def test_stopping_leaves_no_thread_and_closes_the_port(tls: bool) -> None:
    before = {t.ident for t in threading.enumerate()}
    with requests.Session() as session, serve(Registry(), tls=tls) as server:
        verify = str(server.ca_file) if server.ca_file else True
        for _ in range(3):  # kept alive between requests
            assert session.get(f"{server.url}/v2/", verify=verify, timeout=30).ok
        assert len(threading.enumerate()) > len(before)  # the server's threads ran
        address = server.host.rsplit(":", 1)
    after = {t.ident for t in threading.enumerate()}
    assert after <= before, [t.name for t in threading.enumerate() if t.ident not in before]
    with pytest.raises(ConnectionRefusedError), socket.create_connection(
            (address[0], int(address[1])), timeout=5):
        pass


def test_the_plugin_fixture_stops_the_same_way(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import threading

        BEFORE = set()

        def test_first():
            BEFORE.update(t.ident for t in threading.enumerate())

        def test_uses_the_server(fake_registry_server):
            assert fake_registry_server.url.startswith("http://127.0.0.1:")

        def test_after():
            left = [t.name for t in threading.enumerate() if t.ident not in BEFORE]
            assert left == []
    """)
    pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly").assert_outcomes(passed=3)
