"""Fixtures for copy tests: small real images in an OCI layout, and a fake registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeregistry.registry import Registry
from fakeregistry.server import serve
from harness.transports.alltransports import parse_image_name
from tests._support.imagekit import Built, busybox_layer, layer_tar, write_image


@pytest.fixture
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A permissive policy file, so no test depends on /etc/containers/policy.json."""
    path = tmp_path_factory.mktemp("policy") / "policy.json"
    path.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return path


@pytest.fixture
def oci_image(tmp_path: Path) -> tuple[str, Built]:
    """A two-layer OCI image (busybox plus a text file) at ``oci:DIR:v1``; tests that run
    it also need the ``busybox`` peer (see :func:`tests._support.imagekit.busybox_layer`)."""
    ref = f"oci:{tmp_path}/layout:v1"
    built = write_image(parse_image_name(ref),
                        [busybox_layer(), layer_tar({"etc/motd": b"hello from layer 2\n"})],
                        cmd=["/bin/busybox", "cat", "/etc/motd"],
                        labels={"org.example.test": "yes"})
    return ref, built


@pytest.fixture
def fake() -> Iterator[tuple[Registry, str]]:
    """A fresh fake registry over real HTTP, and the host clients reach it at."""
    registry = Registry()
    with serve(registry) as server:
        yield registry, server.url.removeprefix("http://")
