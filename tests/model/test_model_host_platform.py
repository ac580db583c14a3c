"""The host's architecture in the names images use (Go's GOARCH)."""

from __future__ import annotations

import platform

import pytest

from harness.model import descriptor


@pytest.mark.parametrize(("machine", "goarch"), [("x86_64", "amd64"), ("aarch64", "arm64"),
                                                 ("armv7l", "arm"), ("i686", "386"),
                                                 ("riscv64", "riscv64")])
def test_machine_names_map_to_goarch(monkeypatch: pytest.MonkeyPatch, machine: str,
                                     goarch: str) -> None:
    monkeypatch.setattr(platform, "machine", lambda: machine)
    assert descriptor.host_architecture() == goarch
