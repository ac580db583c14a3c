"""``copy --all``: every image of an index, then the index naming them as copied, converted
between OCI index and Docker list when the destination or a forced format asks; byte for
byte what skopeo writes, and readable by skopeo and the distribution registry."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.copy.engine import CopyOptions, CopyResult, ImageListSelection, copy_image
from harness.copy.plan import index_type
from harness.model import mediatype as mt
from harness.model.descriptor import Descriptor, Platform
from harness.model.digest import Digest
from harness.model.indexconvert import rebuild_index
from harness.model.manifest import (
    DockerManifestList,
    ManifestError,
    OCIIndex,
    manifest_digest,
    parse_manifest,
)
from harness.peers.launchers import RunningRegistry
from harness.pytest_plugin.images import PLATFORMS, write_index
from harness.transports.alltransports import parse_image_name
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError

ALL = ImageListSelection.ALL
INSECURE = SystemContext(tls_verify=False)


def _copy_all(src: str, dest: str, policy: Path, **kwargs: object) -> CopyResult:
    options = CopyOptions(signature_policy_path=policy, image_list_selection=ALL,
                          **kwargs)  # type: ignore[arg-type]
    return copy_image(parse_image_name(dest), parse_image_name(src), options)


def _skopeo(*args: str) -> str:
    done = subprocess.run(["skopeo", *args], capture_output=True, text=True, check=False,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def oci_index(tmp_path: Path) -> tuple[str, bytes]:
    """An OCI index of two platforms at ``oci:DIR:multi``, and the index bytes."""
    ref = f"oci:{tmp_path}/layout:multi"
    index = write_index(parse_image_name(ref)).manifest
    return ref, index


@pytest.fixture
def docker_list(tmp_path: Path) -> tuple[str, bytes]:
    """A Docker manifest list of two platforms at ``dir:DIR``, and the list bytes."""
    ref = f"dir:{tmp_path}/list"
    index = write_index(parse_image_name(ref), docker=True).manifest
    return ref, index


def test_every_image_and_the_index_arrive_unchanged(
        oci_index: tuple[str, bytes], tmp_path: Path, policy: Path) -> None:
    src, index = oci_index
    result = _copy_all(src, f"dir:{tmp_path}/d", policy)
    assert (tmp_path / "d" / "manifest.json").read_bytes() == index
    assert result.digest == manifest_digest(index)
    for entry in parse_manifest(index).manifests:
        child = tmp_path / "d" / f"{entry.digest.encoded}.manifest.json"
        assert manifest_digest(child.read_bytes()) == entry.digest
        for blob in parse_manifest(child.read_bytes()).referenced_blobs():
            assert (tmp_path / "d" / blob.digest.encoded).is_file()


def test_without_all_the_index_gives_this_machines_image(
        oci_index: tuple[str, bytes], tmp_path: Path, policy: Path) -> None:
    src, _ = oci_index
    copy_image(parse_image_name(f"dir:{tmp_path}/d"), parse_image_name(src),
               CopyOptions(signature_policy_path=policy))
    assert parse_manifest((tmp_path / "d" / "manifest.json").read_bytes()).media_type \
        == mt.OCI_MANIFEST
    assert not list((tmp_path / "d").glob("*.manifest.json"))


def test_a_forced_docker_format_converts_images_and_index(
        oci_index: tuple[str, bytes], tmp_path: Path, policy: Path) -> None:
    src, index = oci_index
    _copy_all(src, f"dir:{tmp_path}/d", policy, manifest_type=mt.DOCKER_V2S2_MANIFEST)
    written = parse_manifest((tmp_path / "d" / "manifest.json").read_bytes())
    assert isinstance(written, DockerManifestList)
    assert [e.platform for e in written.manifests] == \
        [e.platform for e in parse_manifest(index).manifests]
    for entry in written.manifests:
        child = (tmp_path / "d" / f"{entry.digest.encoded}.manifest.json").read_bytes()
        assert entry.media_type == parse_manifest(child).media_type == mt.DOCKER_V2S2_MANIFEST
        assert entry.size == len(child)


def test_an_oci_layout_gets_a_docker_list_as_an_oci_index(
        docker_list: tuple[str, bytes], tmp_path: Path, policy: Path) -> None:
    src, _ = docker_list
    result = _copy_all(src, f"oci:{tmp_path}/o:x", policy)
    assert result.media_type == mt.OCI_INDEX
    written = parse_manifest(result.manifest)
    with parse_image_name(f"oci:{tmp_path}/o:x").new_image_source(SystemContext()) as source:
        for entry, platform in zip(written.manifests, PLATFORMS, strict=True):
            assert entry.platform == platform
            child, child_type = source.get_manifest(entry.digest)
            assert entry.media_type == child_type == mt.OCI_MANIFEST
            assert manifest_digest(child) == entry.digest and entry.size == len(child)


def test_destinations_without_indexes_and_nested_indexes_are_refused(
        oci_index: tuple[str, bytes], tmp_path: Path, policy: Path) -> None:
    src, index = oci_index
    with pytest.raises(HarnessError, match="cannot store an image index; copy one image"):
        _copy_all(src, f"docker-archive:{tmp_path}/a.tar", policy)
    assert not (tmp_path / "a.tar").exists()
    nested = OCIIndex([Descriptor(mt.OCI_INDEX, manifest_digest(index), len(index))]).to_bytes()
    with parse_image_name(src.replace(":multi", ":nested")).new_image_destination(
            SystemContext()) as dest:
        dest.put_manifest(nested, mt.OCI_INDEX)
        dest.publish()
    with pytest.raises(HarnessError, match="is itself an index; nested indexes"):
        _copy_all(src.replace(":multi", ":nested"), f"dir:{tmp_path}/n", policy)


def test_a_child_that_does_not_match_its_digest_is_refused(
        tmp_path: Path, policy: Path) -> None:
    src = f"dir:{tmp_path}/list"
    index = write_index(parse_image_name(src), docker=True).manifest
    first = parse_manifest(index).manifests[0].digest
    child = tmp_path / "list" / f"{first.encoded}.manifest.json"
    child.write_bytes(child.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
    with pytest.raises(HarnessError, match=f"does not match the digest {first}"):
        _copy_all(src, f"dir:{tmp_path}/d", policy)


def test_index_type_follows_force_then_source_then_destination() -> None:
    both = [mt.OCI_MANIFEST, mt.DOCKER_V2S2_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST]
    assert index_type(mt.DOCKER_MANIFEST_LIST, both) == mt.DOCKER_MANIFEST_LIST
    assert index_type(mt.DOCKER_MANIFEST_LIST, []) == mt.DOCKER_MANIFEST_LIST
    assert index_type(mt.DOCKER_MANIFEST_LIST, [mt.OCI_MANIFEST, mt.OCI_INDEX]) == mt.OCI_INDEX
    assert index_type(mt.OCI_INDEX, both, mt.DOCKER_V2S2_MANIFEST) == mt.DOCKER_MANIFEST_LIST
    assert index_type(mt.OCI_INDEX, both, mt.DOCKER_V2S1_SIGNED_MANIFEST) == \
        mt.DOCKER_MANIFEST_LIST
    assert index_type(mt.DOCKER_MANIFEST_LIST, [], mt.OCI_MANIFEST) == mt.OCI_INDEX
    assert index_type(mt.DOCKER_MANIFEST_LIST, both, oci_only=True) == mt.OCI_INDEX
    with pytest.raises(HarnessError, match=r"does not accept .*list.v2.* indexes"):
        index_type(mt.OCI_INDEX, [mt.OCI_MANIFEST, mt.OCI_INDEX], mt.DOCKER_V2S2_MANIFEST)


def test_rebuild_keeps_bytes_when_nothing_changed_and_drops_what_docker_cannot_say() -> None:
    entry = Descriptor(mt.OCI_MANIFEST, Digest.from_bytes(b"a"), 1,
                       annotations={"k": "v"}, platform=Platform("amd64", "linux"))
    index = OCIIndex([entry], annotations={"top": "level"})
    raw = index.to_bytes().replace(b",", b", ")  # not canonical: kept as is when unchanged
    assert rebuild_index(raw, index, [entry], mt.OCI_INDEX) == raw
    docker = json.loads(rebuild_index(raw, index, [entry], mt.DOCKER_MANIFEST_LIST))
    assert docker == {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": [
        {"mediaType": mt.OCI_MANIFEST, "size": 1, "digest": str(entry.digest),
         "platform": {"architecture": "amd64", "os": "linux"}}]}
    bare = Descriptor(mt.OCI_MANIFEST, Digest.from_bytes(b"b"), 1)
    with pytest.raises(ManifestError, match=r"image 2 .* names no platform"):
        rebuild_index(raw, index, [entry, bare], mt.DOCKER_MANIFEST_LIST)


def test_the_cli_takes_all_and_multi_arch(oci_index: tuple[str, bytes], tmp_path: Path,
                                          policy: Path) -> None:
    src, index = oci_index
    for flag, out in ((["--all"], "a"), (["--multi-arch", "all"], "b")):
        assert main(["copy", "-q", "--policy", str(policy), *flag, src,
                     f"dir:{tmp_path}/{out}"]) == 0
        assert (tmp_path / out / "manifest.json").read_bytes() == index


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize(("source", "dest", "fmt"), [
    ("oci", "dir", None), ("oci", "dir", "v2s2"), ("docker", "dir", "oci"),
    ("docker", "oci", None)])
def test_the_same_bytes_and_lines_as_skopeo(
        oci_index: tuple[str, bytes], docker_list: tuple[str, bytes], tmp_path: Path,
        policy: Path, capsys: pytest.CaptureFixture[str], source: str, dest: str,
        fmt: str | None) -> None:
    src = oci_index[0] if source == "oci" else docker_list[0]
    theirs, ours = tmp_path / "skopeo", tmp_path / "ours"
    target = {"dir": "dir:{}", "oci": "oci:{}:x"}[dest]
    flags = ["--all", *(["--format", fmt] if fmt else [])]
    their_lines = _skopeo("--policy", str(policy), "copy", *flags, src,
                          target.format(theirs))
    capsys.readouterr()
    assert main(["copy", "--policy", str(policy), *flags, src, target.format(ours)]) == 0
    assert capsys.readouterr().out == their_lines
    if dest == "dir":
        assert _tree(ours) == _tree(theirs)
    else:  # the layout's own index.json is formatted differently; its blobs are equal
        assert _tree(ours / "blobs") == _tree(theirs / "blobs")


def test_through_the_fake_registry_and_back(
        fake: tuple[object, str], oci_index: tuple[str, bytes], tmp_path: Path,
        policy: Path) -> None:
    src, index = oci_index
    dest = f"docker://{fake[1]}/multi/app:v1"
    _copy_all(src, dest, policy, dest_ctx=INSECURE)
    _copy_all(dest, f"dir:{tmp_path}/back", policy, source_ctx=INSECURE)
    _copy_all(src, f"dir:{tmp_path}/direct", policy)
    assert _tree(tmp_path / "back") == _tree(tmp_path / "direct")
    assert (tmp_path / "back" / "manifest.json").read_bytes() == index


@pytest.mark.requires_peer("docker-registry", "skopeo")
def test_distribution_serves_the_index_and_skopeo_copies_it_all(
        distribution: RunningRegistry, oci_index: tuple[str, bytes], tmp_path: Path,
        policy: Path) -> None:
    src, index = oci_index
    dest = f"docker://{distribution.image(f'multi/app-{uuid.uuid4().hex[:8]}:v1')}"
    _copy_all(src, dest, policy, dest_ctx=INSECURE, manifest_type=mt.DOCKER_V2S2_MANIFEST)
    raw = _skopeo("inspect", "--tls-verify=false", "--raw", dest).encode()
    assert parse_manifest(raw).media_type == mt.DOCKER_MANIFEST_LIST
    _skopeo("--policy", str(policy), "copy", "--all", "--src-tls-verify=false", dest,
            f"dir:{tmp_path}/theirs")
    assert (tmp_path / "theirs" / "manifest.json").read_bytes() == raw
    _copy_all(src, f"dir:{tmp_path}/ours", policy, manifest_type=mt.DOCKER_V2S2_MANIFEST)
    assert _tree(tmp_path / "theirs") == _tree(tmp_path / "ours")
    assert len(parse_manifest(index).manifests) == len(parse_manifest(raw).manifests) == 2


@pytest.mark.requires_peer("skopeo")
def test_preserve_digests_keeps_the_index_or_fails_as_skopeo(
        oci_index: tuple[str, bytes], tmp_path: Path, policy: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A list that would have to be converted is refused with containers/image's reason;
    without a forced type, the index and its images arrive unchanged."""
    src, index = oci_index
    base = ["copy", "-q", "--all", "--preserve-digests", "--policy", str(policy)]
    theirs = subprocess.run(["skopeo", *base, "--format", "v2s2", src,
                             f"dir:{tmp_path}/theirs"], capture_output=True, text=True,
                            check=False, timeout=120)
    assert main([*base, "--format", "v2s2", src, f"dir:{tmp_path}/ours"]) == 125
    reason = ('Manifest list must be converted to type "application/vnd.docker.distribution'
              '.manifest.list.v2+json" to be written to destination, but we cannot modify '
              'it: "Instructed to preserve digests"')
    assert theirs.returncode == 1 and reason in theirs.stderr.replace('\\"', '"')
    assert capsys.readouterr().err == f"Error: {reason}\n"
    assert main([*base, src, f"dir:{tmp_path}/same"]) == 0
    assert (tmp_path / "same" / "manifest.json").read_bytes() == index
