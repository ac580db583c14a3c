"""Builder.commit to local storage: options, formats, digests, reproducibility."""

from __future__ import annotations

import datetime
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from harness.builder.builder import Builder
from harness.builder.commit import CommitOptions, CommitResult
from harness.copy.policy import PolicyRejectedError
from harness.model import mediatype
from harness.model.compression import Algorithm, decompress
from harness.model.digest import Digest
from harness.model.manifest import parse_manifest
from harness.store.check import check
from harness.store.store import Store
from harness.util.errors import HarnessError

EPOCH = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def _scratch(store: Store, files: dict[str, bytes] | None = None) -> Builder:
    builder = Builder.new(store, "scratch")
    for rel, data in (files or {"hello": b"hi\n"}).items():
        (builder.rootfs / rel).parent.mkdir(parents=True, exist_ok=True)
        (builder.rootfs / rel).write_bytes(data)
    return builder


def _parts(store: Store, result: CommitResult) -> tuple[dict[str, Any], dict[str, Any]]:
    manifest = json.loads(result.manifest)
    config = json.loads(store.read_blob(Digest.parse(manifest["config"]["digest"])))
    return manifest, config


def _members(store: Store, digest: str) -> list[tarfile.TarInfo]:
    stream, _ = store.open_blob(Digest.parse(digest))
    with decompress(stream) as raw, tarfile.open(fileobj=io.BytesIO(raw.read())) as tar:
        return tar.getmembers()


def test_scratch_commit_to_local_storage(store: Store, policy: Path) -> None:
    builder = _scratch(store)
    result = builder.commit("hello", CommitOptions(signature_policy_path=policy))
    image = store.image("localhost/hello:latest")
    assert (image.id, image.digest) == (result.image_id, result.manifest_digest)
    manifest, config = _parts(store, result)
    assert result.media_type == manifest["mediaType"] == mediatype.OCI_MANIFEST
    assert parse_manifest(result.manifest).to_bytes() == result.manifest
    layer = manifest["layers"][0]
    assert layer["mediaType"] == mediatype.OCI_LAYER
    assert config["rootfs"]["diff_ids"] == [layer["digest"]]  # uncompressed: blob = diffID
    assert len(config["history"]) == 1
    assert [m.name for m in _members(store, layer["digest"])] == ["hello"]
    assert Digest.from_bytes(store.read_blob(image.digest)) == result.manifest_digest
    assert check(store) == []


@pytest.mark.parametrize("algorithm", [Algorithm.NONE, Algorithm.GZIP])
def test_committing_an_unchanged_container_again_writes_no_new_layer_blob(
        tmp_path: Path, policy: Path, algorithm: Algorithm) -> None:
    """As containers/storage reuses a layer whose diffID it holds: the second commit stores
    a new config and manifest (a new creation time), the layer blob stays the file it was."""
    store = Store.open(tmp_path / "root")
    builder = _scratch(store, {"app/data": b"x" * 100_000})
    options = CommitOptions(signature_policy_path=policy, compression=algorithm)
    blobs = tmp_path / "root" / "blobs" / "sha256"
    first = builder.commit("one", options)
    files = {p.name: p.stat() for p in blobs.iterdir()}
    second = builder.commit("two", options)
    layer = json.loads(first.manifest)["layers"][0]["digest"].removeprefix("sha256:")
    assert json.loads(second.manifest)["layers"] == json.loads(first.manifest)["layers"]
    assert store.image("localhost/two:latest").top_layer == \
        store.image("localhost/one:latest").top_layer
    after = {p.name: p.stat() for p in blobs.iterdir()}
    assert (after[layer].st_ino, after[layer].st_mtime_ns) == \
        (files[layer].st_ino, files[layer].st_mtime_ns)
    new = set(after) - set(files)
    assert second.image_id != first.image_id
    assert new == {second.image_id, second.manifest_digest.hex}  # config and manifest only
    assert check(store) == []


@pytest.mark.parametrize("algorithm,media_type", [
    (Algorithm.GZIP, mediatype.OCI_LAYER_GZIP), (Algorithm.ZSTD, mediatype.OCI_LAYER_ZSTD)])
def test_compressed_layer_digests_come_from_one_pass(store: Store, policy: Path,
                                                     algorithm: Algorithm,
                                                     media_type: str) -> None:
    builder = _scratch(store, {"data": b"x" * 100_000})
    result = builder.commit("c", CommitOptions(compression=algorithm,
                                               signature_policy_path=policy))
    manifest, config = _parts(store, result)
    layer = manifest["layers"][0]
    blob = store.read_blob(Digest.parse(layer["digest"]))
    assert layer["mediaType"] == media_type
    assert layer["size"] == len(blob) < 100_000
    assert str(Digest.from_bytes(blob)) == layer["digest"]
    uncompressed = decompress(io.BytesIO(blob)).read()
    assert config["rootfs"]["diff_ids"] == [str(Digest.from_bytes(uncompressed))]
    assert check(store) == []


def test_docker_format_uses_docker_media_types_and_config(store: Store, policy: Path) -> None:
    builder = _scratch(store)
    builder.set_field("Cmd", ["/hello"])
    result = builder.commit("d", CommitOptions(
        preferred_manifest_type=mediatype.DOCKER_V2S2_MANIFEST, compression=Algorithm.GZIP,
        signature_policy_path=policy))
    manifest, config = _parts(store, result)
    assert manifest["mediaType"] == mediatype.DOCKER_V2S2_MANIFEST
    assert manifest["config"]["mediaType"] == mediatype.DOCKER_CONFIG
    assert manifest["layers"][0]["mediaType"] == mediatype.DOCKER_LAYER_GZIP
    assert config["config"]["Cmd"] == config["container_config"]["Cmd"] == ["/hello"]
    assert config["container"] == builder.container_id


@pytest.mark.parametrize("options,message", [
    (CommitOptions(preferred_manifest_type=mediatype.DOCKER_V2S1_SIGNED_MANIFEST),
     "only know 'application/vnd.oci.image.manifest.v1+json' and "
     "'application/vnd.docker.distribution.manifest.v2+json'"),
    (CommitOptions(compression=Algorithm.BZIP2),
     "media type for bzip2-compressed layers is not defined"),
    (CommitOptions(compression=Algorithm.XZ),
     "media type for xz-compressed layers is not defined"),
    (CommitOptions(compression=Algorithm.ZSTD,
                   preferred_manifest_type=mediatype.DOCKER_V2S2_MANIFEST),
     "zstd-compressed layers is not defined in Docker schema2"),
], ids=["v2s1", "bzip2", "xz", "zstd-docker"])
def test_bad_options_are_refused_before_any_write(store: Store, options: CommitOptions,
                                                  message: str) -> None:
    builder = _scratch(store)
    blobs_before = store.backend.blob_digests()
    with pytest.raises(HarnessError, match=re.escape(message)):
        builder.commit("x", options)
    assert store.backend.blob_digests() == blobs_before
    assert store.images() == []


def test_same_content_and_timestamp_give_the_same_image(tmp_path: Path, policy: Path) -> None:
    results = []
    for name in ("one", "two"):
        store = Store.open(tmp_path / name)
        for _ in range(2):
            builder = _scratch(store, {"bin/app": b"app", "etc/conf": b"k=v"})
            builder.set_env("PATH", "/bin")
            builder.set_field("Cmd", ["/bin/app"])
            results.append(builder.commit(name, CommitOptions(
                history_timestamp=EPOCH, signature_policy_path=policy)))
    assert len({(r.image_id, r.manifest_digest) for r in results}) == 1
    _, config = _parts(Store.open(tmp_path / "one"), results[0])
    assert config["created"] == config["history"][0]["created"] == "2024-01-02T03:04:05Z"
    layer = json.loads(results[0].manifest)["layers"][0]["digest"]
    assert {m.mtime for m in _members(Store.open(tmp_path / "one"), layer)} == \
        {int(EPOCH.timestamp())}


def test_commit_on_an_image_is_shallow_and_appends_history(store: Store, policy: Path) -> None:
    base = _scratch(store, {"etc/base": b"base", "etc/gone": b"x"})
    base_result = base.commit("base", CommitOptions(signature_policy_path=policy))
    blobs = set(store.backend.blob_digests())
    child = Builder.new(store, "base")
    assert child.container_name == "base-working-container"
    assert (child.rootfs / "etc/base").read_bytes() == b"base"
    (child.rootfs / "etc/gone").unlink()
    (child.rootfs / "etc/new").write_bytes(b"new")
    result = child.commit("child", CommitOptions(signature_policy_path=policy))
    new_blobs = set(store.backend.blob_digests()) - blobs
    assert len(new_blobs) == 3  # the new layer, the config and the manifest only
    manifest, config = _parts(store, result)
    base_manifest, _ = _parts(store, base_result)
    assert manifest["layers"][0] == base_manifest["layers"][0]
    assert len(config["history"]) == len(config["rootfs"]["diff_ids"]) == 2
    assert json.loads(result.manifest)["annotations"][
        "org.opencontainers.image.base.digest"] == str(base_result.manifest_digest)
    names = {m.name for m in _members(store, manifest["layers"][1]["digest"])}
    assert names == {"etc", "etc/.wh.gone", "etc/new"}
    again = Builder.new(store, "child")
    assert sorted(p.name for p in (again.rootfs / "etc").iterdir()) == ["base", "new"]


def test_setters_write_both_configs(store: Store, policy: Path) -> None:
    builder = _scratch(store)
    builder.set_field("Entrypoint", ["/bin/sh", "-c"])
    builder.set_field("Cmd", ["echo hi"])
    builder.set_env("A", "1")
    builder.set_env("A", "2")
    builder.set_label("k", "v")
    builder.set_field("WorkingDir", "/srv")
    builder.set_field("User", "1000")
    builder.add_exposed_port("8080/tcp")
    builder.add_volume("/data")
    builder.set_field("StopSignal", "SIGTERM")
    builder.set_author("me")
    builder.created_by = "made by test"
    builder.set_platform("arm64", "linux")
    builder.set_annotation("a", "b")
    builder.save()
    builder = Builder.load(store, builder.container_name)
    want = {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "Env": ["A=2"],
            "Labels": {"k": "v"}, "WorkingDir": "/srv", "User": "1000",
            "ExposedPorts": {"8080/tcp": {}}, "Volumes": {"/data": {}}, "StopSignal": "SIGTERM"}
    for fmt in (mediatype.OCI_MANIFEST, mediatype.DOCKER_V2S2_MANIFEST):
        result = builder.commit(None, CommitOptions(preferred_manifest_type=fmt,
                                                    signature_policy_path=policy))
        manifest, config = _parts(store, result)
        assert {k: config["config"][k] for k in want} == want
        assert (config["author"], config["architecture"], config["os"]) == ("me", "arm64",
                                                                            "linux")
        assert config["history"][-1]["created_by"] == "made by test"
        assert config["history"][-1]["author"] == "me"
        assert manifest.get("annotations", {}).get("a") == (
            "b" if fmt == mediatype.OCI_MANIFEST else None)


def test_additional_tags_and_report_lines(store: Store, policy: Path) -> None:
    out = io.StringIO()
    result = _scratch(store).commit("main:1", CommitOptions(
        additional_tags=["extra", "quay.io/x/y:2"], report_writer=out,
        signature_policy_path=policy))
    image = store.image(result.image_id)
    assert image.names == ["localhost/main:1", "localhost/extra:latest", "quay.io/x/y:2"]
    lines = out.getvalue().splitlines()
    assert lines[0] == "Getting image source signatures"
    assert lines[-2:] == ["Writing manifest to image destination", "Storing signatures"]
    assert f"Copying config sha256:{result.image_id}" in lines


def test_signature_policy_is_honoured(store: Store, tmp_path: Path) -> None:
    reject = tmp_path / "reject.json"
    reject.write_text(json.dumps({"default": [{"type": "reject"}]}))
    with pytest.raises(PolicyRejectedError, match="rejected"):
        _scratch(store).commit("no", CommitOptions(signature_policy_path=reject))
    assert store.images() == []


def test_commit_elsewhere_is_a_full_copy_through_the_copy_engine(
        store: Store, policy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _scratch(store, {"base": b"b"})
    base.commit("base", CommitOptions(signature_policy_path=policy))
    child = Builder.new(store, "base")
    (child.rootfs / "top").write_bytes(b"t")
    blobs = set(store.backend.blob_digests())
    err = io.StringIO()
    result = child.commit(f"oci:{tmp_path / 'layout'}:v1", CommitOptions(
        compression=Algorithm.GZIP, signature_policy_path=policy, report_writer=err,
        history_timestamp=EPOCH, additional_tags=["ignored"]))
    assert "don't know how to add tags to images stored in 'oci' transport" in \
        capsys.readouterr().err
    assert set(store.backend.blob_digests()) == blobs  # nothing left in the local store
    index = json.loads((tmp_path / "layout/index.json").read_text())
    assert index["manifests"][0]["digest"] == str(result.manifest_digest)
    manifest = json.loads((tmp_path / "layout/blobs/sha256" /
                           result.manifest_digest.hex).read_bytes())
    assert [x["mediaType"] for x in manifest["layers"]] == [mediatype.OCI_LAYER_GZIP] * 2
    for layer in manifest["layers"]:
        blob = (tmp_path / "layout/blobs/sha256" / layer["digest"][7:]).read_bytes()
        assert str(Digest.from_bytes(blob)) == layer["digest"]
    assert "Writing manifest to image destination" in err.getvalue()


@pytest.mark.requires_peer("skopeo")
def test_skopeo_reads_an_image_committed_to_an_oci_layout(store: Store, policy: Path,
                                                          tmp_path: Path) -> None:
    builder = _scratch(store, {"etc/motd": b"hello"})
    builder.set_field("Cmd", ["/bin/true"])
    result = builder.commit(f"oci:{tmp_path / 'l'}:t", CommitOptions(
        signature_policy_path=policy))
    out = subprocess.run(["skopeo", "inspect", f"oci:{tmp_path / 'l'}:t"], check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out)["Digest"] == str(result.manifest_digest)


def test_builder_from_a_transport_reference_pulls_into_the_store(
        store: Store, policy: Path, tmp_path: Path) -> None:
    source = Store.open(tmp_path / "elsewhere")
    base = _scratch(source, {"etc/os-release": b"ID=test\n"})
    base.set_env("FROM", "layout")
    base.commit(f"oci:{tmp_path / 'app-layout'}:v1", CommitOptions(
        compression=Algorithm.GZIP, signature_policy_path=policy))
    builder = Builder.new(store, f"oci:{tmp_path / 'app-layout'}:v1",
                          signature_policy_path=policy)
    assert (builder.rootfs / "etc/os-release").read_bytes() == b"ID=test\n"
    assert builder.configs.get_field("Env") == ["FROM=layout"]
    # Named as buildah names a pulled layout: its path under localhost/, no tag.
    stored = f"localhost/{str(tmp_path / 'app-layout').lstrip('/')}:latest"
    assert builder.from_image == stored
    assert store.image(stored).id == builder.from_image_id
    (builder.rootfs / "more").write_bytes(b"m")
    result = builder.commit("on-top", CommitOptions(signature_policy_path=policy))
    manifest, config = _parts(store, result)
    # The pulled gzip layer is listed by its uncompressed digest, as buildah lists it.
    assert [x["mediaType"] for x in manifest["layers"]] == [mediatype.OCI_LAYER] * 2
    assert [x["digest"] for x in manifest["layers"]] == config["rootfs"]["diff_ids"]
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == stored
    assert config["history"][-1]["comment"] == f"FROM {stored}"
    assert len(config["rootfs"]["diff_ids"]) == len(config["history"]) == 2
    assert check(store) == []
    # ... and the image still reads whole: a push serves that layer uncompressed.
    builder.commit(f"oci:{tmp_path / 'pushed'}:v1", CommitOptions(
        signature_policy_path=policy))
    assert check(Store.open(tmp_path / "elsewhere")) == []


def test_harness_store_destinations(store: Store, policy: Path, tmp_path: Path) -> None:
    builder = _scratch(store)
    options = CommitOptions(signature_policy_path=policy, history_timestamp=EPOCH)
    local = builder.commit("harness-store:quay.io/team/app", options)
    assert store.image("quay.io/team/app:latest").id == local.image_id
    other = tmp_path / "other-store"
    builder.commit(f"harness-store:[{other}]localhost/copied:1", options)
    assert Store.open(other).image("localhost/copied:1").id == local.image_id
    assert store.find_image("localhost/copied:1") is None


def test_docker_commit_on_a_docker_base_as_buildah_writes_it(store: Store, policy: Path) -> None:
    """On a base whose Docker config carries docker_version and OnBuild null (as `docker
    build` writes them), buildah's Docker config drops docker_version, writes OnBuild []
    and names the base as parent; the container is named under --timestamp too."""
    options = CommitOptions(preferred_manifest_type=mediatype.DOCKER_V2S2_MANIFEST,
                            history_timestamp=EPOCH, signature_policy_path=policy)
    first = _scratch(store, {"f": b"1"}).commit("base", options)
    child = Builder.new(store, "base")
    child.configs.docker.docker_version = "20.10.24"  # what such a base hands down
    child.configs.docker.config["OnBuild"] = None
    result = child.commit("child", options)
    config = _parts(store, result)[1]
    assert "docker_version" not in config
    assert config["config"]["OnBuild"] == [] == config["container_config"]["OnBuild"]
    assert config["parent"] == f"sha256:{first.image_id}"
    assert config["container"] == child.container_id
    assert config["history"][-1]["comment"] == "FROM localhost/base:latest"
