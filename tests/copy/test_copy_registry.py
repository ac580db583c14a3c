"""Pushes to the real distribution registry, checked with skopeo and the Docker engine."""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from pathlib import Path

import pytest

from harness.builder.push import PushOptions, push
from harness.cli.main import main
from harness.copy.engine import CopyOptions, copy_image
from harness.model import mediatype as mt
from harness.model.compression import Algorithm
from harness.model.manifest import manifest_digest, parse_manifest
from harness.peers.launchers import DistributionLauncher, RunningRegistry
from harness.pytest_plugin.images import BuiltImage, plain_layers
from harness.store.store import Store
from harness.transports.alltransports import parse_image_name
from harness.transports.types import SystemContext

FORMATS = {"oci": mt.OCI_MANIFEST, "v2s2": mt.DOCKER_V2S2_MANIFEST,
           "v2s1": mt.DOCKER_V2S1_SIGNED_MANIFEST}
INSECURE = SystemContext(tls_verify=False)


def _repo(registry: RunningRegistry, what: str) -> str:
    return registry.image(f"copytest/{what}-{uuid.uuid4().hex[:8]}:v1")


def _skopeo(*args: str) -> bytes:
    done = subprocess.run(["skopeo", *args], capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout






def _media_type(raw: bytes) -> str:
    obj = json.loads(raw)
    if obj.get("schemaVersion") == 1:
        return mt.DOCKER_V2S1_SIGNED_MANIFEST if "signatures" in obj else mt.DOCKER_V2S1_MANIFEST
    return str(obj["mediaType"])


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_push_each_format_then_skopeo_reads_it_intact(
        distribution: RunningRegistry, oci_image: tuple[str, BuiltImage], tmp_path: Path,
        policy: Path, fmt: str) -> None:
    src, built = oci_image
    dest = _repo(distribution, fmt)
    result = copy_image(parse_image_name(f"docker://{dest}"), parse_image_name(src),
                        CopyOptions(dest_ctx=INSECURE, manifest_type=FORMATS[fmt],
                                    signature_policy_path=policy))
    raw = _skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{dest}")
    assert _media_type(raw) == FORMATS[fmt]
    assert manifest_digest(raw) == result.digest
    _skopeo("copy", "--policy", str(policy), "--src-tls-verify=false",
            f"docker://{dest}", f"dir:{tmp_path}/out")
    assert plain_layers(parse_image_name(f"dir:{tmp_path}/out")) == built.layer_tars()
    copy_image(parse_image_name(f"oci:{tmp_path}/back:v1"),
               parse_image_name(f"docker://{dest}"),
               CopyOptions(source_ctx=INSECURE, signature_policy_path=policy))
    assert plain_layers(parse_image_name(f"oci:{tmp_path}/back:v1")) == built.layer_tars()


@pytest.mark.requires_peer("skopeo")
def test_push_from_the_store_compresses_and_keeps_the_asked_type(
        distribution: RunningRegistry, oci_image: tuple[str, BuiltImage], tmp_path: Path,
        policy: Path) -> None:
    src, built = oci_image
    root = tmp_path / "store"
    copy_image(parse_image_name(f"harness-store:[{root}]localhost/pushme:v1"),
               parse_image_name(src),
               CopyOptions(signature_policy_path=policy, compression=Algorithm.NONE))
    dest = _repo(distribution, "store")
    digest_file = tmp_path / "digest"
    result = push("pushme:v1", dest, PushOptions(
        store=Store.open(root), system_context=INSECURE, manifest_type="v2s2",
        signature_policy_path=policy, digest_file=digest_file))
    raw = _skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{dest}")
    assert _media_type(raw) == mt.DOCKER_V2S2_MANIFEST
    assert digest_file.read_text() == str(result.digest) == str(manifest_digest(raw))
    layers = parse_manifest(raw).layers
    assert {d.media_type for d in layers} == {mt.DOCKER_LAYER_GZIP}
    _skopeo("copy", "--policy", str(policy), "--src-tls-verify=false",
            f"docker://{dest}", f"dir:{tmp_path}/out")
    assert plain_layers(parse_image_name(f"dir:{tmp_path}/out")) == built.layer_tars()


@pytest.mark.requires_peer("docker", "busybox")
@pytest.mark.parametrize("fmt", ["v2s2", "oci"])
def test_docker_pulls_and_runs_a_pushed_busybox_image(
        distribution: RunningRegistry, oci_image: tuple[str, BuiltImage], policy: Path,
        fmt: str) -> None:
    src, _ = oci_image
    dest = _repo(distribution, f"run-{fmt}")
    copy_image(parse_image_name(f"docker://{dest}"), parse_image_name(src),
               CopyOptions(dest_ctx=INSECURE, manifest_type=FORMATS[fmt],
                           signature_policy_path=policy))
    try:
        subprocess.run(["docker", "pull", "-q", dest], check=True, capture_output=True,
                       timeout=120)
        run = subprocess.run(["docker", "run", "--rm", "--network", "host", dest],
                             capture_output=True, timeout=120, check=False)
        assert run.returncode == 0, run.stderr.decode()
        assert run.stdout == b"hello from layer 2\n"
    finally:
        subprocess.run(["docker", "rmi", "-f", dest], capture_output=True, check=False)


@pytest.mark.requires_peer("docker-registry")
def test_cli_credentials_reach_a_basic_auth_registry(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with DistributionLauncher(auth="basic").start() as registry:
        assert registry.credentials is not None
        creds = f"{registry.credentials.username}:{registry.credentials.password}"
        dest = f"docker://{registry.image('private/app:v1')}"
        base = ["copy", "-q", "--policy", str(policy), "--dest-tls-verify=false"]
        assert main([*base, oci_image[0], dest]) == 125
        denied = capsys.readouterr().err
        assert denied.count("\n") == 1
        assert main([*base, "--dest-creds", creds, oci_image[0], dest]) == 0
        assert main(["inspect", "--tls-verify=false", "--creds", creds, dest]) == 0
        shown = capsys.readouterr()
        assert json.loads(shown.out)["Name"] == registry.image("private/app")
        assert registry.credentials.password not in shown.out + shown.err + denied
        auth_file = tmp_path / "auth.json"
        token = base64.b64encode(creds.encode()).decode()
        auth_file.write_text(json.dumps({"auths": {registry.host: {"auth": token}}}))
        assert main(["inspect", "--raw", "--tls-verify=false", "--authfile", str(auth_file),
                     dest]) == 0
        assert json.loads(capsys.readouterr().out)["schemaVersion"] == 2


@pytest.mark.requires_peer("docker-registry")
def test_cli_cert_dir_trusts_a_tls_registry(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with DistributionLauncher(tls=True).start() as registry:
        assert registry.ca_file is not None
        certs = tmp_path / "certs.d"
        certs.mkdir()
        (certs / "ca.crt").write_bytes(registry.ca_file.read_bytes())
        dest = f"docker://{registry.image('tls/app:v1')}"
        base = ["copy", "-q", "--policy", str(policy), "--retry-times", "0"]
        assert main([*base, oci_image[0], dest]) == 125
        assert capsys.readouterr().err.count("\n") == 1
        assert main([*base, "--dest-cert-dir", str(certs), oci_image[0], dest]) == 0
        assert main(["copy", "-q", "--policy", str(policy), "--src-cert-dir", str(certs),
                     dest, f"oci:{tmp_path}/back:v1"]) == 0
    assert plain_layers(parse_image_name(f"oci:{tmp_path}/back:v1")) == oci_image[1].layer_tars()
