"""Fixtures for copy tests: small real images in an OCI layout, and a fake registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fakeregistry.registry import Registry
from fakeregistry.server import serve
from harness.pytest_plugin.images import BuiltImage, ImageSpec, write_image
from harness.pytest_plugin.trees import busybox_tree, files_tree
from harness.transports.alltransports import parse_image_name


@pytest.fixture
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A permissive policy file, so no test depends on /etc/containers/policy.json."""
    path = tmp_path_factory.mktemp("policy") / "policy.json"
    path.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return path


@pytest.fixture
def oci_image(tmp_path: Path) -> tuple[str, BuiltImage]:
    """A two-layer OCI image (busybox plus a text file) at ``oci:DIR:v1``; tests that run
    it also need the ``busybox`` peer (see :func:`harness.pytest_plugin.trees.busybox_tree`)."""
    ref = f"oci:{tmp_path}/layout:v1"
    spec = ImageSpec((busybox_tree(), files_tree({"etc/motd": b"hello from layer 2\n"})),
                     run={"Env": ["PATH=/bin"], "Cmd": ["/bin/busybox", "cat", "/etc/motd"],
                          "Labels": {"org.example.test": "yes"}})
    return ref, write_image(spec, parse_image_name(ref))


@pytest.fixture
def fake() -> Iterator[tuple[Registry, str]]:
    """A fresh fake registry over real HTTP, and the host clients reach it at."""
    registry = Registry()
    with serve(registry) as server:
        yield registry, server.url.removeprefix("http://")
