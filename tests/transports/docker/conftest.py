"""Helpers for the docker:// transport tests: a mocked registry host and recorded sleeps."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import responses

from harness.transports.docker.client import RegistryClient
from harness.transports.types import Credentials, SystemContext
from harness.util.retry import RetryPolicy
from tests._support.dockerhelp import BASE, HOST, REPO


@pytest.fixture(autouse=True)
def _no_user_auth_files(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
                        ) -> None:
    """Keep the user's real auth.json and Docker config out of every test."""
    home = tmp_path_factory.mktemp("home")
    for name in ("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """A responses mock where every request must be expected; ``/v2/`` answers 200."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def anonymous_ping(mocked: responses.RequestsMock) -> responses.RequestsMock:
    mocked.get(f"{BASE}/v2/", status=200)
    return mocked


@pytest.fixture
def sleeps() -> list[float]:
    """The waits a client asked for (tests never really sleep)."""
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Callable[..., RegistryClient]:
    def make(times: int = 3, credentials: Credentials | None = None,
             actions: tuple[str, ...] = ("pull", "push"), repo: str = REPO,
             **ctx_fields: object) -> RegistryClient:
        ctx = SystemContext(credentials=credentials, auth_file=None, **ctx_fields)  # type: ignore[arg-type]
        return RegistryClient(HOST, repo, ctx, actions,
                              retry=RetryPolicy(times, 0.5, sleep=sleeps.append))
    return make
