"""Fixtures of the transport tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    """A permissive signature policy, so no test depends on /etc/containers/policy.json."""
    path = tmp_path / "policy.json"
    path.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    return path
