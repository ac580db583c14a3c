"""The plugin's fixtures. Loading this module imports nothing heavy: the plugin loads in
every pytest run, so each fixture imports what it needs when a test first asks for it."""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.builder.builder import Builder
    from harness.peers.launchers import Access, RunningRegistry
    from harness.pytest_plugin.images import BuiltImage
    from harness.pytest_plugin.registries import RegistryUnderTest
    from harness.store.store import Store

PROFILE_MARKER = "registry_profile"
TARGET_OPTION = "--registry-target"
USED_REGISTRIES = pytest.StashKey[list["RegistryUnderTest"]]()
"""The registries a test used, for its failure report."""
ACCESS = pytest.StashKey[dict[str, "Access"]]()
"""Each url= target's credentials and TLS trust, from the ``--registry-*`` options."""
# A real registry's storage outlives a test (and, for url= targets, the run): each run
# gets its own top-level namespace.
_RUN_ID = secrets.token_hex(3)


def marked_profile(node: pytest.Item) -> tuple[str | None, dict[str, Any]]:
    """The ``registry_profile(name, **switches)`` marker closest to the test."""
    marker = node.get_closest_marker(PROFILE_MARKER)
    if marker is None:
        return None, {}
    return (marker.args[0] if marker.args else None), dict(marker.kwargs)


MakeFakeRegistry = Callable[..., "RegistryUnderTest"]


@pytest.fixture
def make_fake_registry(request: pytest.FixtureRequest) -> Iterator[MakeFakeRegistry]:
    """Factory for fresh fakes: ``make_fake_registry(profile="ecr", auth="token",
    users={"tester": "secret"}, readonly={"reader"}, tls=True, http=True)``. Each lives
    until the test ends; the ``registry_profile`` marker sets the default profile."""
    from harness.pytest_plugin.registries import start_fake  # noqa: PLC0415

    name, switches = marked_profile(request.node)
    with contextlib.ExitStack() as stack:
        def make(profile: str | None = None, **options: Any) -> RegistryUnderTest:
            handle = stack.enter_context(start_fake(profile or name or "spec", **options))
            if switches and profile is None:
                handle.use_profile(handle.fake.profile if handle.fake else "spec", **switches)
            request.node.stash.setdefault(USED_REGISTRIES, []).append(handle)
            return handle

        yield make


def _variant(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Factory options given by indirect parametrisation, e.g.
    ``@pytest.mark.parametrize("fake_registry_server", [{"tls": True}], indirect=True)``."""
    return dict(getattr(request, "param", None) or {})


@pytest.fixture
def fake_registry(request: pytest.FixtureRequest,
                  make_fake_registry: MakeFakeRegistry) -> RegistryUnderTest:
    """A fresh in-process fake (``requests`` reaches it without a socket)."""
    return make_fake_registry(**_variant(request))


@pytest.fixture
def fake_registry_server(request: pytest.FixtureRequest,
                         make_fake_registry: MakeFakeRegistry) -> RegistryUnderTest:
    """A fresh fake served over real HTTP(S) on 127.0.0.1, for subprocess clients."""
    return make_fake_registry(**{"http": True, **_variant(request)})


class RealRegistries:
    """Real registries started on first use and kept for the whole session."""

    def __init__(self, stack: contextlib.ExitStack, access: dict[str, Access]) -> None:
        self._stack = stack
        self._access = access
        self._running: dict[str, RunningRegistry] = {}

    def get(self, spec: str) -> RunningRegistry:
        if spec not in self._running:
            from harness.peers.targets import launcher_for  # noqa: PLC0415

            launcher = launcher_for(spec, self._access.get(spec))
            running = self._stack.enter_context(launcher.start())
            if running.credentials is not None or running.token is not None:
                _logged_in_or_exit(spec, running)
            self._running[spec] = running
        return self._running[spec]


def _logged_in_or_exit(spec: str, running: RunningRegistry) -> None:
    """Stop the whole run, with one line, when the registry refuses the login."""
    from harness.pytest_plugin.registries import check_login  # noqa: PLC0415

    try:
        check_login(running)
    except HarnessError as exc:
        pytest.exit(f"--registry-target {spec}: the registry refused the login: {exc}",
                    returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def real_registries(pytestconfig: pytest.Config) -> Iterator[RealRegistries]:
    with contextlib.ExitStack() as stack:
        yield RealRegistries(stack, pytestconfig.stash.get(ACCESS, {}))


_PEER_OF_TARGET = {"distribution": "docker-registry", "distribution-container": "docker"}


def namespace_for(nodeid: str) -> str:
    """A repository namespace unique to a test, readable in registry logs."""
    name = nodeid.rsplit("::", 1)[-1].lower()
    slug = re.sub(r"[^a-z0-9]+", "-", name).strip("-")[:40].strip("-") or "test"
    return f"t{_RUN_ID}/{slug}-{hashlib.sha256(nodeid.encode()).hexdigest()[:8]}"


@pytest.fixture
def registry(request: pytest.FixtureRequest,
             make_fake_registry: MakeFakeRegistry) -> RegistryUnderTest:
    """The registry under test, once per ``--registry-target`` (default: the fake). Real
    targets start once per session; each test gets its own repository namespace."""
    spec: str = getattr(request, "param", "fake")
    if spec == "fake":
        return make_fake_registry()
    name, _ = marked_profile(request.node)
    if name is not None:
        pytest.skip(f"registry_profile({name!r}) describes the fake; {spec} is what it is")
    peer = _PEER_OF_TARGET.get(spec)
    if peer is not None:
        from harness.peers.detect import require_peer  # noqa: PLC0415

        request.node.user_properties.append(("requires_peer", peer))
        require_peer(peer)
    from harness.pytest_plugin.registries import real_target  # noqa: PLC0415

    running = request.getfixturevalue("real_registries").get(spec)
    handle = real_target(spec, running, namespace_for(request.node.nodeid))
    request.node.stash.setdefault(USED_REGISTRIES, []).append(handle)
    return handle


@pytest.fixture(params=["memory", "disk"])
def image_store(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A local image store; every test using it runs on the in-memory and on-disk one."""
    from harness.store.backend import MemoryBackend  # noqa: PLC0415
    from harness.store.store import Store  # noqa: PLC0415

    if request.param == "disk":
        yield Store.open(tmp_path_factory.mktemp("store"))
        return
    store = Store.memory()
    yield store
    if isinstance(store.backend, MemoryBackend):
        store.backend.close()


@pytest.fixture
def builder(image_store: Store) -> Builder:
    """A working container from scratch in ``image_store`` (buildah's ``from scratch``)."""
    from harness.builder.builder import Builder  # noqa: PLC0415

    return Builder.new(image_store, "scratch")


MakeRandomImage = Callable[..., "BuiltImage"]


@pytest.fixture
def random_image(tmp_path_factory: pytest.TempPathFactory) -> MakeRandomImage:
    """Factory: ``random_image(seed=1, layers=3, size=64 * 1024, manifest_type=...,
    compression=Algorithm.GZIP)`` builds an image in a ``dir:`` layout; the same
    arguments give the same bytes, digests included."""
    from harness.model import mediatype  # noqa: PLC0415
    from harness.model.compression import Algorithm  # noqa: PLC0415
    from harness.pytest_plugin.images import random_spec, write_image  # noqa: PLC0415
    from harness.transports.directory import TRANSPORT  # noqa: PLC0415

    def make(seed: int = 0, layers: int = 1, size: int = 1024,
             manifest_type: str = mediatype.OCI_MANIFEST,
             compression: Algorithm = Algorithm.GZIP) -> BuiltImage:
        spec = random_spec(seed, layers, size, manifest_type, compression)
        path = tmp_path_factory.mktemp("image")
        return write_image(spec, TRANSPORT.parse_reference(str(path)))

    return make
