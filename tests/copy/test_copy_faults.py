"""Copies through the fake registry's faults: each is survived with a bit-identical image,
or reported as one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakeregistry import FaultRule, Registry, serve
from harness.cli.main import main
from harness.copy.engine import CopyOptions, CopyResult, copy_image
from harness.model import mediatype as mt
from harness.model.digest import Digest
from harness.pytest_plugin.images import BuiltImage, plain_layers, read_image
from harness.transports.alltransports import parse_image_name
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError

CTX = SystemContext(tls_verify=False, retry_times=3, retry_delay=0.01)


def _push(src: str, host: str, policy: Path, repo: str) -> CopyResult:
    return copy_image(parse_image_name(f"docker://{host}/{repo}:v1"), parse_image_name(src),
                      CopyOptions(dest_ctx=CTX, signature_policy_path=policy))


def _pull(host: str, repo: str, dest: str, policy: Path) -> CopyResult:
    return copy_image(parse_image_name(dest), parse_image_name(f"docker://{host}/{repo}:v1"),
                      CopyOptions(source_ctx=CTX, signature_policy_path=policy))


def _blobs(ref: str) -> dict[Digest, bytes]:
    return read_image(parse_image_name(ref))[2]


@pytest.mark.parametrize("rule", [
    "method=PATCH,nth=1,status=503",
    "method=PUT,path=/v2/*/manifests/*,nth=1,status=500",
    "method=PUT,path=/v2/*/blobs/uploads/*,nth=1,status=429,retry_after=0",
    "method=PATCH,nth=1,drop_after=100",
    "method=HEAD,nth=1,status=502",
])
def test_push_survives_and_the_image_is_bit_identical(
        fake: tuple[Registry, str], oci_image: tuple[str, BuiltImage], tmp_path: Path,
        policy: Path, rule: str) -> None:
    registry, host = fake
    src, built = oci_image
    fault = registry.faults.add(FaultRule.parse(rule))
    faulty = _push(src, host, policy, "faulty")
    assert fault.fired == 1
    registry.faults.clear()
    clean = _push(src, host, policy, "clean")
    assert faulty.manifest == clean.manifest == built.manifest
    _pull(host, "faulty", f"oci:{tmp_path}/pulled:v1", policy)
    assert _blobs(f"oci:{tmp_path}/pulled:v1") == _blobs(src)


@pytest.mark.parametrize("rule", [
    "method=GET,path=/v2/*/blobs/sha256:*,nth=1,truncate=50",
    "method=GET,path=/v2/*/blobs/sha256:*,nth=1,drop_after=10",
    "method=GET,path=/v2/*/blobs/sha256:*,nth=1,status=503",
])
def test_pull_survives_broken_blob_reads(
        fake: tuple[Registry, str], oci_image: tuple[str, BuiltImage], tmp_path: Path,
        policy: Path, rule: str) -> None:
    registry, host = fake
    src, _ = oci_image
    _push(src, host, policy, "app")
    fault = registry.faults.add(FaultRule.parse(rule))
    _pull(host, "app", f"oci:{tmp_path}/pulled:v1", policy)
    assert fault.fired == 1
    assert _blobs(f"oci:{tmp_path}/pulled:v1") == _blobs(src)


def test_wrong_digest_header_is_reported(
        fake: tuple[Registry, str], oci_image: tuple[str, BuiltImage], policy: Path) -> None:
    registry, host = fake
    registry.faults.add(FaultRule.parse("method=PUT,path=/v2/*/manifests/*,wrong_digest=true"))
    with pytest.raises(HarnessError, match="digest"):
        _push(oci_image[0], host, policy, "wrong")


def test_persistent_server_errors_are_reported_not_looped(
        fake: tuple[Registry, str], oci_image: tuple[str, BuiltImage], policy: Path) -> None:
    registry, host = fake
    registry.faults.add(FaultRule.parse("method=POST,status=503"))
    with pytest.raises(HarnessError, match="503"):
        _push(oci_image[0], host, policy, "down")


def test_schema1_image_falls_back_to_schema2_where_schema1_is_refused(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    copy_image(parse_image_name(f"dir:{tmp_path}/s1"), parse_image_name(src),
               CopyOptions(signature_policy_path=policy,
                           manifest_type=mt.DOCKER_V2S1_SIGNED_MANIFEST))
    with serve(Registry("distribution-v3")) as server:
        host = server.url.removeprefix("http://")
        result = _push(f"dir:{tmp_path}/s1", host, policy, "legacy")
        assert result.media_type == mt.DOCKER_V2S2_MANIFEST
        _pull(host, "legacy", f"oci:{tmp_path}/back:v1", policy)
    assert plain_layers(parse_image_name(f"oci:{tmp_path}/back:v1")) == built.layer_tars()


@pytest.mark.parametrize(("retries", "code"), [(0, 125), (1, 125), (2, 0), (3, 0)])
def test_cli_retries_draw_on_one_budget(
        fake: tuple[Registry, str], oci_image: tuple[str, BuiltImage], policy: Path,
        retries: int, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    """Two failures need two retries: request retries and whole-copy retries share the
    --retry-times budget (they used to multiply), each announced as buildah does."""
    registry, host = fake
    fault = registry.faults.add(FaultRule.parse(
        "method=PUT,path=/v2/*/manifests/*,status=503,times=2"))
    argv = ["copy", "-q", "--policy", str(policy), "--dest-tls-verify=false",
            "--retry-times", str(retries), "--retry-delay", "0", oci_image[0],
            f"docker://{host}/retried:v1"]
    assert main(argv) == code
    assert fault.fired == min(2, retries + 1)
    err = capsys.readouterr().err.splitlines()
    warned = [line for line in err if line.startswith("WARN Failed, retrying in 0s ... (")]
    assert len(warned) == min(2, retries)
    errors = [line for line in err if line.startswith("Error:")]
    assert errors == ([] if code == 0 else [err[-1]])
    assert all("HTTP 503" in line for line in errors)


def test_registry_to_registry_copy_keeps_the_image(
        fake: tuple[Registry, str], oci_image: tuple[str, BuiltImage], tmp_path: Path,
        policy: Path) -> None:
    _, first = fake
    src, built = oci_image
    _push(src, first, policy, "origin")
    with serve(Registry("distribution-2.8")) as other:
        second = other.url.removeprefix("http://")
        result = copy_image(parse_image_name(f"docker://{second}/mirror:v1"),
                            parse_image_name(f"docker://{first}/origin:v1"),
                            CopyOptions(source_ctx=CTX, dest_ctx=CTX,
                                        signature_policy_path=policy))
        assert result.manifest == built.manifest
        _pull(second, "mirror", f"oci:{tmp_path}/mirror:v1", policy)
    assert _blobs(f"oci:{tmp_path}/mirror:v1") == _blobs(src)


@pytest.mark.parametrize(("retries", "code"), [(0, 125), (1, 125), (2, 0)])
def test_cli_push_retries_draw_on_one_budget(
        fake: tuple[Registry, str], oci_image: tuple[str, BuiltImage], tmp_path: Path,
        policy: Path, retries: int, code: int) -> None:
    registry, host = fake
    root = str(tmp_path / "root")
    assert main(["--root", root, "copy", "-q", "--policy", str(policy), oci_image[0],
                 "harness-store:localhost/app:v1"]) == 0
    fault = registry.faults.add(FaultRule.parse(
        "method=PUT,path=/v2/*/manifests/*,status=503,times=2"))
    assert main(["--root", root, "push", "-q", "--signature-policy", str(policy),
                 "--tls-verify=false", "--retry", str(retries), "--retry-delay", "0",
                 "app:v1", f"{host}/pushed:v1"]) == code
    assert fault.fired == min(2, retries + 1)


def test_schema1_copied_to_another_repository_takes_its_name(
        fake: tuple[Registry, str], oci_image: tuple[str, BuiltImage], policy: Path) -> None:
    _, host = fake
    copy_image(parse_image_name(f"docker://{host}/first/repo:v1"),
               parse_image_name(oci_image[0]),
               CopyOptions(dest_ctx=CTX, signature_policy_path=policy,
                           manifest_type=mt.DOCKER_V2S1_SIGNED_MANIFEST))
    result = copy_image(parse_image_name(f"docker://{host}/second/place:v7"),
                        parse_image_name(f"docker://{host}/first/repo:v1"),
                        CopyOptions(source_ctx=CTX, dest_ctx=CTX,
                                    signature_policy_path=policy))
    moved = json.loads(result.manifest)
    assert (moved["name"], moved["tag"]) == ("second/place", "v7")
    assert result.media_type == mt.DOCKER_V2S1_SIGNED_MANIFEST
