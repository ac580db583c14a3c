"""Store fixtures: the same tests run on the memory and the disk backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.store.backend import MemoryBackend
from harness.store.store import Store


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        backend = MemoryBackend()
        yield Store(backend)
        backend.close()
    else:
        yield Store.open(tmp_path / "root")
