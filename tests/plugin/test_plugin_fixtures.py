"""The plugin's fixtures used directly (the pytester tests check them from outside)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.builder.builder import Builder
from harness.model import mediatype
from harness.pytest_plugin import assert_pushed, assert_same_image
from harness.pytest_plugin.images import BuiltImage
from harness.pytest_plugin.registries import RegistryUnderTest

MakeImage = Callable[..., BuiltImage]


def test_random_image_pushes_to_the_fake(fake_registry: RegistryUnderTest,
                                         random_image: MakeImage) -> None:
    image = random_image(seed=1, layers=3, size=50_000)
    image.push(fake_registry.at("app:v1"))
    assert_pushed(fake_registry, "app:v1", manifest_type=mediatype.OCI_MANIFEST,
                  layers=image.layers, digest=image.digest)
    assert_same_image(image, fake_registry.at("app:v1"), same_manifest=True)
    assert len(fake_registry.transcript.requests(method="PUT", path="/v2/app/manifests/*")) == 1


def test_schema1_image_is_signed_on_push(fake_registry: RegistryUnderTest,
                                         random_image: MakeImage) -> None:
    image = random_image(seed=1, layers=2, manifest_type=mediatype.DOCKER_V2S1_SIGNED_MANIFEST)
    image.push(fake_registry.at("app:v1"))
    assert_pushed(fake_registry, "app:v1",
                  manifest_type=mediatype.DOCKER_V2S1_SIGNED_MANIFEST, layers=2)


def test_server_fake_over_http(fake_registry_server: RegistryUnderTest,
                               random_image: MakeImage) -> None:
    assert fake_registry_server.url.startswith("http://127.0.0.1:")
    image = random_image(seed=1, layers=2, manifest_type=mediatype.DOCKER_V2S2_MANIFEST)
    image.push(fake_registry_server.at("app:v1"))
    assert_pushed(fake_registry_server, "app:v1",
                  manifest_type=mediatype.DOCKER_V2S2_MANIFEST, layers=2)


def test_registry_target(registry: RegistryUnderTest, random_image: MakeImage) -> None:
    random_image(seed=2).push(registry.at("app:v1"))
    assert_pushed(registry, "app:v1", layers=1)


def test_builder_is_a_scratch_container(builder: Builder) -> None:
    assert builder.from_image == "scratch"
    assert builder.rootfs.is_dir()
    assert not any(builder.rootfs.iterdir())


def test_assert_pushed_names_each_difference(fake_registry: RegistryUnderTest,
                                             random_image: MakeImage) -> None:
    image = random_image(seed=4, layers=2)
    image.push(fake_registry.at("app:v1"))
    first, second = image.layers
    other = random_image(seed=5, layers=1)
    with pytest.raises(AssertionError, match=f"manifest digest is {image.digest}, expected "
                                             f"{other.digest}$"):
        assert_pushed(fake_registry, "app:v1", digest=other.digest)
    with pytest.raises(AssertionError, match=f"; unexpected layer 1: {second.digest}$"):
        assert_pushed(fake_registry, "app:v1", layers=[first])
    extra = other.layers[0]
    with pytest.raises(AssertionError, match=f"; missing layer 2: {extra.digest}$"):
        assert_pushed(fake_registry, "app:v1", layers=[first, second, extra])


def test_assert_same_image_can_demand_the_same_manifest(fake_registry: RegistryUnderTest,
                                                         random_image: MakeImage) -> None:
    image = random_image(seed=6)
    image.push(fake_registry.at("app:v2s2"), manifest_type=mediatype.DOCKER_V2S2_MANIFEST)
    differ = f"manifests differ: {mediatype.OCI_MANIFEST} {image.digest} vs " \
             f"{mediatype.DOCKER_V2S2_MANIFEST} "
    with pytest.raises(AssertionError, match=re.escape(differ)):
        assert_same_image(image, fake_registry.at("app:v2s2"), same_manifest=True)


def test_a_blob_shorter_than_its_descriptor_is_reported(random_image: MakeImage) -> None:
    """The content matches its digest, but the manifest gives another size (a registry
    client notices a short blob itself; a local layout serves exactly what it holds)."""
    image = random_image(seed=7)
    manifest_file = Path(image.reference.string_within_transport()) / "manifest.json"
    manifest = json.loads(manifest_file.read_bytes())
    layer = manifest["layers"][0]
    layer["size"] += 5
    manifest_file.write_text(json.dumps(manifest))
    with pytest.raises(AssertionError, match=f"blob {layer['digest']} has {layer['size'] - 5} "
                                             f"bytes, the manifest says {layer['size']}$"):
        assert_same_image(image.reference, image.reference)
