"""Commit straight to a real distribution registry, and build from an image pulled back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from harness.builder.builder import Builder
from harness.builder.commit import CommitOptions
from harness.model import mediatype
from harness.model.compression import Algorithm
from harness.model.digest import Digest
from harness.peers.launchers import RunningRegistry
from harness.store.store import Store
from harness.transports.types import SystemContext


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("fmt", [mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST])
def test_commit_to_a_registry_and_build_on_it(distribution: RunningRegistry, tmp_path: Path,
                                              policy: Path, fmt: str) -> None:
    ref = distribution.image(f"builder/commit-{fmt.rsplit('.', 2)[-2]}:v1")
    ctx = SystemContext(tls_verify=False)
    builder = Builder.new(Store.open(tmp_path / "one"), "scratch")
    (builder.rootfs / "motd").write_text("from the registry\n")
    builder.set_field("Cmd", ["/bin/cat", "/motd"])
    result = builder.commit(f"docker://{ref}", CommitOptions(
        preferred_manifest_type=fmt, compression=Algorithm.GZIP, system_context=ctx,
        signature_policy_path=policy))
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{ref}"], check=True, capture_output=True).stdout
    assert Digest.from_bytes(raw) == result.manifest_digest
    manifest = json.loads(raw)
    assert manifest["mediaType"] == fmt
    assert manifest["layers"][0]["mediaType"] in (mediatype.OCI_LAYER_GZIP,
                                                  mediatype.DOCKER_LAYER_GZIP)
    again = Builder.new(Store.open(tmp_path / "two"), f"docker://{ref}", ctx=ctx,
                        signature_policy_path=policy)
    assert (again.rootfs / "motd").read_text() == "from the registry\n"
    assert again.configs.get_field("Cmd") == ["/bin/cat", "/motd"]
