"""The in-process fake is reached without a name lookup: its host name is its own, so the
https-then-http probe of ``--tls-verify=false`` is refused in process on the port nothing
serves instead of resolving ``registry.fake`` through the machine's resolver (which would
leave the machine: the project targets loopback only). Other hosts still go to the network."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from fakeregistry.inprocess import inprocess
from fakeregistry.registry import Registry
from fakeregistry.server import serve
from harness.model import mediatype
from harness.model.digest import Digest
from harness.pytest_plugin import assert_pushed
from harness.pytest_plugin.fixtures import MakeRandomImage
from harness.pytest_plugin.registries import RegistryUnderTest
from harness.transports.docker import TRANSPORT
from harness.transports.docker.client import RegistryClient, RegistryConnectionError
from harness.transports.types import BlobInfo, SystemContext
from tests._support.dockerhelp import push_image

LAYER = b"layer bytes " * 100
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": []}}).encode()
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every name looked up; a name other than loopback's fails without leaving the machine."""
    names: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        names.append(str(host))
        if str(host) not in LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield names


def _pull(image: str, ctx: SystemContext) -> tuple[bytes, bytes]:
    with TRANSPORT.parse_reference(image).new_image_source(ctx) as source:
        manifest, _ = source.get_manifest()
        stream, _ = source.get_blob(BlobInfo(Digest.from_bytes(LAYER), len(LAYER)))
        with stream:
            return manifest, stream.read()


def test_plain_http_fake_is_probed_without_a_lookup(lookups: list[str]) -> None:
    """``http://registry.fake`` with TLS verification off: the https probe is refused in
    process, then plain http reaches the fake; push and pull make no lookup at all."""
    ctx = SystemContext(tls_verify=False, retry_times=0)
    with inprocess(Registry()) as url:
        host = url.removeprefix("http://")
        pushed = push_image(f"//{host}/ns/app:v1", ctx, LAYER, CONFIG, mediatype.OCI_LAYER)
        assert _pull(f"//{host}/ns/app:v1", ctx) == (pushed.manifest, LAYER)
    assert lookups == []


@pytest.mark.parametrize("tls_verify", [True, False])
def test_fake_registry_push_and_pull_make_no_lookup(
        fake_registry: RegistryUnderTest, random_image: MakeRandomImage, lookups: list[str],
        tls_verify: bool) -> None:
    registry = fake_registry.with_context(tls_verify=tls_verify)
    image = random_image(layers=2)
    image.push(registry.at("app:v1"))
    assert assert_pushed(registry, "app:v1", layers=list(image.layers)).digest == image.digest
    assert lookups == []


def test_a_port_the_fake_does_not_serve_is_refused_as_a_closed_port(
        lookups: list[str]) -> None:
    """Its https port when it serves http only: "nothing listening", as a closed port of a
    real host says, not "cannot resolve"."""
    with inprocess(Registry()) as url:
        host = url.removeprefix("http://")
        client = RegistryClient(host, "ns/app", SystemContext(retry_times=0))
        with pytest.raises(RegistryConnectionError) as caught:
            _ = client.base_url
    assert str(caught.value) == f"pinging registry {host}: nothing listening on {host}:443"
    assert lookups == []


def test_other_hosts_still_reach_the_network(lookups: list[str]) -> None:
    """With an in-process fake active, a served fake on ``localhost`` is reached through a
    real socket (and the name resolved as before); only the fake's own host is kept in."""
    with inprocess(Registry()), serve(Registry()) as server:
        port = server.host.rpartition(":")[2]
        image = f"//localhost:{port}/ns/app:v1"
        ctx = SystemContext(tls_verify=False, retry_times=0)
        pushed = push_image(image, ctx, LAYER, CONFIG, mediatype.OCI_LAYER)
        assert _pull(image, ctx) == (pushed.manifest, LAYER)
    assert "localhost" in lookups and set(lookups) <= LOOPBACK  # the server binds 127.0.0.1
