"""The client helpers drive the real skopeo, buildah and Docker CLI against real registries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.peers.clients import (
    Buildah,
    ContainersConfig,
    DockerCLI,
    PeerCommandError,
    Skopeo,
    run_peer,
)
from harness.peers.launchers import DistributionLauncher, RunningRegistry
from harness.util.errors import HarnessError


def _busybox_image(buildah: Buildah, dest: str) -> None:
    container = buildah.from_image()
    buildah.copy(container, Path("/bin/busybox"), "/bin/busybox")
    buildah.config_set(container, "--cmd", "/bin/busybox echo hello-from-busybox")
    buildah.commit(container, dest)


@pytest.fixture(scope="module")
def secure_registry() -> Iterator[RunningRegistry]:
    """A registry with TLS and Basic auth, for the flags the helpers derive."""
    with DistributionLauncher(auth="basic", tls=True).start() as registry:
        yield registry


def test_run_peer_failure_names_the_command_and_stderr() -> None:
    with pytest.raises(PeerCommandError, match=r"^sh -c 'echo oops >&2; exit 3' exited "
                                               r"with 3: oops$") as info:
        run_peer(["sh", "-c", "echo oops >&2; exit 3"])
    assert info.value.result.returncode == 3
    assert isinstance(info.value, HarnessError)
    unchecked = run_peer(["sh", "-c", "echo out; exit 4"], check=False)
    assert (unchecked.returncode, unchecked.stdout) == (4, "out\n")


def test_failure_messages_hide_passwords() -> None:
    with pytest.raises(PeerCommandError) as info:
        run_peer(["sh", "-c", "exit 1", "--dest-creds", "me:s3cret", "--creds", "you:pw2"])
    assert "s3cret" not in str(info.value) and "pw2" not in str(info.value)
    assert "--dest-creds 'me:<redacted>' --creds 'you:<redacted>'" in str(info.value)


def test_containers_config_is_private(tmp_path: Path) -> None:
    config = ContainersConfig(tmp_path / "cfg")
    assert json.loads(config.policy.read_text()) == {
        "default": [{"type": "insecureAcceptAnything"}]}
    env = config.overrides()
    assert env["CONTAINERS_REGISTRIES_CONF"] == str(config.registries_conf)
    assert env["TMPDIR"] == str(config.tmpdir)
    ca = tmp_path / "ca.crt"
    ca.write_text("CA")
    (tmp_path / "server.key").write_text("never copied")
    cert_dir = config.cert_dir(ca)
    assert sorted(p.name for p in cert_dir.iterdir()) == ["ca.crt"]
    registry = RunningRegistry(url="http://h:1", host="h:1")
    assert config.registry_flags(registry, "dest-") == ["--dest-tls-verify=false"]


@pytest.mark.requires_peer("buildah", "skopeo")
def test_buildah_and_skopeo_round_trip(distribution: RunningRegistry, tmp_path: Path) -> None:
    buildah = Buildah(tmp_path / "buildah", distribution)
    skopeo = Skopeo(tmp_path / "skopeo", distribution)
    ref = f"docker://{distribution.image('clients/round-trip:v1')}"
    _busybox_image(buildah, ref)

    assert skopeo.list_tags(f"docker://{distribution.image('clients/round-trip')}") == ["v1"]
    assert json.loads(skopeo.inspect(ref))["Digest"].startswith("sha256:")

    skopeo.copy(ref, f"oci:{tmp_path / 'layout'}:v1")
    schema1 = f"docker://{distribution.image('clients/round-trip:s1')}"
    skopeo.copy(f"oci:{tmp_path / 'layout'}:v1", schema1, "--format", "v2s1")
    assert json.loads(skopeo.inspect(schema1, "--raw"))["schemaVersion"] == 1

    skopeo.delete(schema1)
    with pytest.raises(PeerCommandError, match=r"skopeo .*inspect .*exited with 1: .*"
                                               r"manifest unknown"):
        skopeo.inspect(schema1)


@pytest.mark.requires_peer("buildah")
def test_buildah_commits_locally_and_pushes(distribution: RunningRegistry,
                                            tmp_path: Path) -> None:
    buildah = Buildah(tmp_path / "buildah", distribution)
    container = buildah.from_image()
    image_id = buildah.commit(container, "local-image")
    assert re.fullmatch(r"[0-9a-f]{64}", image_id)
    assert (tmp_path / "buildah" / "root" / "vfs-images").is_dir()  # the private store
    buildah.push("local-image", f"docker://{distribution.image('clients/pushed:v1')}")
    pulled = Buildah(tmp_path / "other", distribution)
    assert pulled.pull(f"docker://{distribution.image('clients/pushed:v1')}") == image_id


@pytest.mark.requires_peer("skopeo", "buildah", "docker-registry")
def test_tls_and_credentials_come_from_the_registry(secure_registry: RunningRegistry,
                                                    tmp_path: Path) -> None:
    ref = f"docker://{secure_registry.image('clients/secure:v1')}"
    _busybox_image(Buildah(tmp_path / "buildah", secure_registry), ref)
    assert json.loads(Skopeo(tmp_path / "ok", secure_registry).inspect(ref))["Digest"]
    with pytest.raises(PeerCommandError, match="certificate"):
        Skopeo(tmp_path / "no-flags").inspect(ref)


@pytest.mark.requires_peer("docker", "buildah", "busybox", "docker-registry")
def test_docker_pulls_runs_and_pushes(tmp_path: Path) -> None:
    with DistributionLauncher(auth="basic").start() as registry:
        _busybox_image(Buildah(tmp_path / "buildah", registry),
                       f"docker://{registry.image('clients/bb:v1')}")
        docker = DockerCLI(tmp_path / "docker", registry)
        with pytest.raises(PeerCommandError, match="no basic auth credentials"):
            docker.pull(registry.image("clients/bb:v1"))
        docker.login()
        try:
            docker.pull(registry.image("clients/bb:v1"))
            ran = docker.run_container(registry.image("clients/bb:v1"))
            assert ran.stdout.strip() == "hello-from-busybox"
            archive = tmp_path / "saved.tar"
            docker.run("save", "--output", str(archive), registry.image("clients/bb:v1"))
            docker.remove_image(registry.image("clients/bb:v1"))
            assert docker.load(archive) == [registry.image("clients/bb:v1")]
            docker.tag(registry.image("clients/bb:v1"), registry.image("clients/bb2:v2"))
            pushed = docker.push(registry.image("clients/bb2:v2"))
            assert "Mounted from clients/bb" in pushed.stdout
        finally:
            docker.remove_image(registry.image("clients/bb:v1"))
            docker.remove_image(registry.image("clients/bb2:v2"))


@pytest.mark.requires_peer("docker")
def test_docker_cli_refuses_a_registry_with_its_own_ca(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("a CA the docker engine would need to be told of\n")
    registry = RunningRegistry(url="https://h:1", host="h:1", ca_file=tmp_path / "ca.crt")
    with pytest.raises(HarnessError, match="cannot trust a registry CA"):
        DockerCLI(tmp_path, registry)
