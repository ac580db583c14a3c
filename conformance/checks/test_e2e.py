"""End to end: an image committed and pushed by this project's own builder, pulled back
and verified layer by layer, in each manifest type buildah and skopeo write."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conformance.cleanup import Written
from conformance.client import Target
from conformance.expect import CheckFailed, expect_status, unsupported
from conformance.repo import Repo, unique_tag
from conformance.rules import DOCKER, must
from harness.builder.builder import Builder
from harness.builder.commit import CommitOptions
from harness.builder.push import PushOptions, push
from harness.model import mediatype, schema1
from harness.model.compression import Algorithm
from harness.model.digest import Digest
from harness.store.store import Store
from harness.transports.docker.errors import RegistryError
from harness.transports.types import SystemContext

KINDS = {"oci": mediatype.OCI_MANIFEST, "v2s2": mediatype.DOCKER_V2S2_MANIFEST,
         "v2s1": mediatype.DOCKER_V2S1_SIGNED_MANIFEST}
FILE = "conformance/payload.bin"


def _context(target: Target) -> SystemContext:
    return SystemContext.reaching(target.access, retry_times=0)


def _build(store: Store, kind: str, payload: bytes) -> str:
    """Commit a one-file image to the local store; return its name."""
    builder = Builder.new(store, "scratch")
    path = builder.rootfs / FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    builder.set_field("Cmd", [f"/{FILE}"])
    builder.save()
    preferred = mediatype.OCI_MANIFEST if kind == "oci" else mediatype.DOCKER_V2S2_MANIFEST
    name = f"conformance-{kind}"
    builder.commit(name, CommitOptions(preferred_manifest_type=preferred,
                                       compression=Algorithm.GZIP))
    return name


def _layer_files(blob: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        return {m.name.lstrip("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers() if m.isfile()}


def _pull_blob(repo: Repo, digest: str) -> bytes:
    repo.client.ledger.remember(Written("blobs", repo.name, digest))  # pushed by harness
    response = repo.get_blob(digest)
    expect_status(response, 200)
    served = Digest.from_bytes(response.content)
    assert str(served) == digest, f"blob {digest} pulled back as {served}"
    return response.content


_DOCKER = must("Image Manifest V2 (schema 1 and 2)", "An image pushed by a Docker-format "
               "client in this manifest type is served back as pushed.", DOCKER)


@pytest.mark.parametrize("kind", ["oci", pytest.param("v2s2", marks=_DOCKER),
                                  pytest.param("v2s1", marks=_DOCKER)])
@must("Pushing Manifests", "The registry MUST store the manifest in the exact byte "
      "representation provided by the client; a GET request to an existing blob URL MUST "
      "provide the expected blob.")
def test_harness_push_round_trip(repo: Repo, target: Target, tmp_path: Path, kind: str) -> None:
    """An image committed and pushed by oci-harness is served back layer by layer as pushed."""
    payload = os.urandom(256)
    store = Store.open(tmp_path / "store")
    name = _build(store, kind, payload)
    tag = unique_tag(kind)
    host = urlsplit(target.access.url).netloc
    try:
        result = push(name, f"docker://{host}/{repo.name}:{tag}",
                      PushOptions(store=store, manifest_type=kind,
                                  system_context=_context(target)))
    except RegistryError as exc:
        if kind == "v2s1" and exc.code in {"MANIFEST_INVALID", "UNSUPPORTED"}:
            unsupported(f"schema1 manifests are refused: {exc}")
        raise CheckFailed(f"the push failed: {exc}") from exc
    repo.client.ledger.remember(Written("manifests", repo.name, str(result.digest)))
    response = repo.get_manifest(tag, accept=KINDS[kind])
    expect_status(response, 200)
    served_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    assert served_type == KINDS[kind], f"pushed as {KINDS[kind]}, served as {served_type}"
    if kind == "v2s1":
        body = json.loads(schema1.verify(response.content))
        layers = [entry["blobSum"] for entry in body["fsLayers"]]
    else:
        assert Digest.from_bytes(response.content) == result.digest, (
            "the manifest served is not the one pushed")
        body = json.loads(response.content)
        config = json.loads(_pull_blob(repo, body["config"]["digest"]))
        layers = [layer["digest"] for layer in body["layers"]]
        diff_ids = [str(Digest.from_bytes(gzip.decompress(_pull_blob(repo, d))))
                    for d in layers]
        assert config["rootfs"]["diff_ids"] == diff_ids, "config diff_ids do not match layers"
    files: dict[str, bytes] = {}
    for digest in layers:
        files |= _layer_files(_pull_blob(repo, digest))
    assert files.get(FILE) == payload, f"{FILE} is not in the layers pulled back as written"
