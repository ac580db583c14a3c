"""A stateful model of push/tag/delete/list: after every step the registry agrees with it."""

from __future__ import annotations

import json

import requests
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fakeregistry import Registry, inprocess
from harness.model import mediatype
from harness.model.digest import Digest
from tests._support.fakeregistry_helpers import Client

REPOS = st.sampled_from(["a", "b/c"])
TAGS = st.sampled_from(["latest", "v1", "v2", "V_3"])
CONTENT = st.sampled_from([b"one", b"two", b"three"])


def _manifest(config: Digest, layer: Digest) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": mediatype.OCI_MANIFEST,
        "config": {"mediaType": mediatype.OCI_CONFIG, "digest": str(config), "size": 3},
        "layers": [{"mediaType": mediatype.OCI_LAYER_GZIP, "digest": str(layer), "size": 3}],
    }).encode()


class RegistryModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.registry = Registry()
        self._context = inprocess(self.registry, "http://model.fake")
        url = self._context.__enter__()
        self.client = Client(url, requests.Session())
        self.blobs: dict[str, set[Digest]] = {}
        self.manifests: dict[str, dict[Digest, bytes]] = {}
        self.tags: dict[str, dict[str, Digest]] = {}

    def teardown(self) -> None:
        self._context.__exit__(None, None, None)

    def _touch(self, repo: str) -> None:
        self.blobs.setdefault(repo, set())
        self.manifests.setdefault(repo, {})
        self.tags.setdefault(repo, {})

    @rule(repo=REPOS, data=CONTENT)
    def push_blob(self, repo: str, data: bytes) -> None:
        self.client.push_blob(repo, data)
        self._touch(repo)
        self.blobs[repo].add(Digest.from_bytes(data))

    @rule(repo=REPOS, tag=TAGS, config=CONTENT, layer=CONTENT)
    def push_manifest(self, repo: str, tag: str, config: bytes, layer: bytes) -> None:
        refs = (Digest.from_bytes(config), Digest.from_bytes(layer))
        body = _manifest(*refs)
        response = self.client.push_manifest(repo, tag, body)
        if all(d in self.blobs.get(repo, set()) for d in refs):
            assert response.status_code == 201
            digest = Digest.from_bytes(body)
            self.manifests[repo][digest] = body
            self.tags[repo][tag] = digest
        else:
            assert response.status_code == 400
            assert response.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"

    @rule(repo=REPOS, tag=TAGS)
    def delete_tag(self, repo: str, tag: str) -> None:
        response = self.client.request("DELETE", f"/v2/{repo}/manifests/{tag}")
        if tag in self.tags.get(repo, {}):
            assert response.status_code == 202
            del self.tags[repo][tag]
        else:
            assert response.status_code == 404

    @rule(repo=REPOS, config=CONTENT, layer=CONTENT)
    def delete_manifest(self, repo: str, config: bytes, layer: bytes) -> None:
        digest = Digest.from_bytes(_manifest(Digest.from_bytes(config), Digest.from_bytes(layer)))
        response = self.client.request("DELETE", f"/v2/{repo}/manifests/{digest}")
        if digest in self.manifests.get(repo, {}):
            assert response.status_code == 202
            del self.manifests[repo][digest]
            self.tags[repo] = {t: d for t, d in self.tags[repo].items() if d != digest}
        else:
            assert response.status_code == 404

    @rule(repo=REPOS, data=CONTENT)
    def delete_blob(self, repo: str, data: bytes) -> None:
        digest = Digest.from_bytes(data)
        response = self.client.request("DELETE", f"/v2/{repo}/blobs/{digest}")
        if digest in self.blobs.get(repo, set()):
            assert response.status_code == 202
            self.blobs[repo].discard(digest)
        else:
            assert response.status_code == 404

    @invariant()
    def tags_and_manifests_agree(self) -> None:
        for repo, tags in self.tags.items():
            listed = self.client.request("GET", f"/v2/{repo}/tags/list").json()["tags"]
            assert listed == sorted(tags)
            for tag, digest in tags.items():
                got = self.client.request("GET", f"/v2/{repo}/manifests/{tag}")
                assert got.headers["Docker-Content-Digest"] == str(digest)
                assert got.content == self.manifests[repo][digest]

    @invariant()
    def blobs_agree(self) -> None:
        for repo, blobs in self.blobs.items():
            for data in (b"one", b"two", b"three"):
                digest = Digest.from_bytes(data)
                head = self.client.request("HEAD", f"/v2/{repo}/blobs/{digest}")
                assert (head.status_code == 200) == (digest in blobs)

    @invariant()
    def catalog_lists_every_touched_repository(self) -> None:
        listed = self.client.request("GET", "/v2/_catalog").json()["repositories"]
        assert listed == sorted(self.blobs)


RegistryModel.TestCase.settings = settings(max_examples=25, stateful_step_count=20)
TestRegistryModel = RegistryModel.TestCase
