"""The repository's tag list: every page followed, odd answers reported, inspect shows it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from fakeregistry.inprocess import inprocess
from fakeregistry.profiles import get_profile
from fakeregistry.registry import Registry
from harness.transports.alltransports import parse_image_name
from harness.transports.docker import TRANSPORT, ProtocolError
from harness.transports.inspect import inspect_image
from harness.transports.types import SystemContext
from tests._support.dockerhelp import BASE, HOST, REPO, push_image

CTX = SystemContext(retry_times=0, retry_delay=0.0)
FAKE = "tags.fake.test"
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'


@pytest.fixture
def paged_fake() -> Iterator[Registry]:
    """A fake whose tag pages hold two tags at most, whatever ``n`` asks."""
    registry = Registry(get_profile("spec").replace(tag_page_limit=2))
    with inprocess(registry, f"https://{FAKE}"):
        yield registry


def _push_tags(tags: list[str]) -> None:
    for tag in tags:
        push_image(f"//{FAKE}/app:{tag}", CTX, b"layer", CONFIG)


def test_every_page_is_followed(paged_fake: Registry) -> None:
    tags = ["v1", "v2", "v3", "latest", "edge"]
    _push_tags(tags)
    with TRANSPORT.parse_reference(f"//{FAKE}/app:v1").new_image_source(CTX) as source:
        assert source.repository_tags() == sorted(tags)
    pages = paged_fake.transcript.requests(method="GET", path="/v2/app/tags/list")
    assert len(pages) == 3


def test_inspect_shows_the_repository_tags(paged_fake: Registry) -> None:
    _push_tags(["b", "a", "c"])
    summary = inspect_image(parse_image_name(f"docker://{FAKE}/app:a"), CTX)
    assert isinstance(summary, dict)
    assert summary["RepoTags"] == ["a", "b", "c"]


@responses.activate
def test_a_looping_link_header_is_reported() -> None:
    responses.get(f"{BASE}/v2/", status=200)
    responses.get(f"{BASE}/v2/{REPO}/tags/list", json={"name": REPO, "tags": ["a"]},
                  headers={"Link": f'</v2/{REPO}/tags/list>; rel="next"'})
    with TRANSPORT.parse_reference(f"//{HOST}/{REPO}:a").new_image_source(CTX) as source, \
            pytest.raises(ProtocolError, match="Link header loops back"):
        source.repository_tags()


@responses.activate
def test_a_malformed_page_is_reported() -> None:
    responses.get(f"{BASE}/v2/", status=200)
    responses.get(f"{BASE}/v2/{REPO}/tags/list", json={"name": REPO, "tags": "a,b"})
    with TRANSPORT.parse_reference(f"//{HOST}/{REPO}:a").new_image_source(CTX) as source, \
            pytest.raises(ProtocolError, match=r"expected \{\"tags\": \[strings\]\}"):
        source.repository_tags()


@responses.activate
def test_a_repository_without_tags_has_an_empty_list() -> None:
    responses.get(f"{BASE}/v2/", status=200)
    responses.get(f"{BASE}/v2/{REPO}/tags/list", json={"name": REPO, "tags": None})
    with TRANSPORT.parse_reference(f"//{HOST}/{REPO}:a").new_image_source(CTX) as source:
        assert source.repository_tags() == []
