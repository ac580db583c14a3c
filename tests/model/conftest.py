"""Fixtures for model tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._support.model_layout import Layout, make_layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return make_layout(tmp_path / "layout")
