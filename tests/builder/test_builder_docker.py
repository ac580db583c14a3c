"""End to end: an image built and committed here runs in the Docker engine."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.builder.builder import Builder
from harness.builder.commit import CommitOptions
from harness.model import mediatype
from harness.model.compression import Algorithm
from harness.peers.clients import DockerCLI
from harness.peers.launchers import RunningRegistry
from harness.store.store import Store
from harness.transports.types import SystemContext


@pytest.mark.requires_peer("docker", "busybox")
@pytest.mark.parametrize("fmt", [mediatype.DOCKER_V2S2_MANIFEST, mediatype.OCI_MANIFEST])
def test_committed_busybox_image_runs_in_docker(distribution: RunningRegistry,
                                                tmp_path: Path, policy: Path,
                                                fmt: str) -> None:
    busybox = shutil.which("busybox")
    assert busybox is not None
    builder = Builder.new(Store.open(tmp_path / "store"), "scratch")
    builder.add([Path(busybox)], "/bin/busybox")
    builder.set_field("Entrypoint", ["/bin/busybox"])
    builder.set_field("Cmd", ["sh", "-c", "echo built-by-harness $GREETING"])
    builder.set_env("GREETING", "hello")
    ref = distribution.image(f"builder/busybox-{fmt.split('.')[-2]}:e2e")
    builder.commit(f"docker://{ref}", CommitOptions(
        preferred_manifest_type=fmt, compression=Algorithm.GZIP,
        system_context=SystemContext(tls_verify=False), signature_policy_path=policy))
    docker = DockerCLI(tmp_path / "docker", distribution)
    try:
        docker.pull(ref)
        assert docker.run_container(ref).stdout.strip() == "built-by-harness hello"
    finally:
        docker.remove_image(ref)
