"""The plugin's fixtures used directly (the pytester tests check them from outside)."""

from __future__ import annotations

from collections.abc import Callable

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
