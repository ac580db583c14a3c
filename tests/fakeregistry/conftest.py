"""Fixtures: an in-process registry per test, and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from fakeregistry import Registry, inprocess
from tests._support.fakeregistry_helpers import Client


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def client(registry: Registry) -> Iterator[Client]:
    with inprocess(registry) as url, requests.Session() as session:
        yield Client(url, session)
