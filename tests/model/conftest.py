"""Fixtures for model tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.pytest_plugin.images import BuiltImage, write_image
from harness.transports.alltransports import parse_image_name
from tests._support.manifest_samples import history_spec


@pytest.fixture
def layout(tmp_path: Path) -> BuiltImage:
    """:func:`~tests._support.manifest_samples.history_spec` in an OCI layout."""
    return write_image(history_spec(), parse_image_name(f"oci:{tmp_path}/layout:v1"))
