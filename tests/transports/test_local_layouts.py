"""Behaviour of the local transports' storage: naming in index.json, refusals, atomicity."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.model import mediatype
from harness.model.descriptor import Descriptor
from harness.model.digest import Digest, DigestMismatchError
from harness.model.manifest import DockerManifest, OCIManifest
from harness.transports.alltransports import parse_image_name
from harness.transports.types import BlobInfo, SystemContext
from harness.util.errors import HarnessError

CTX = SystemContext()


def _put(text: str, payload: bytes, *, docker: bool = False) -> bytes:
    """Store an image whose only layer is *payload*; return its manifest."""
    config = b'{"rootfs":{"type":"layers","diff_ids":["%s"]}}' % str(
        Digest.from_bytes(payload)).encode()
    config_desc = Descriptor(mediatype.OCI_CONFIG, Digest.from_bytes(config), len(config))
    layer = Descriptor(mediatype.OCI_LAYER, Digest.from_bytes(payload), len(payload))
    if docker:
        config_desc = Descriptor(mediatype.DOCKER_CONFIG, config_desc.digest, len(config))
        layer = Descriptor(mediatype.DOCKER_LAYER, layer.digest, layer.size)
        manifest = DockerManifest(config_desc, [layer]).to_bytes()
    else:
        manifest = OCIManifest(config_desc, [layer]).to_bytes()
    with parse_image_name(text).new_image_destination(CTX) as dest:
        dest.put_blob(io.BytesIO(payload), BlobInfo(layer.digest, layer.size), False)
        dest.put_blob(io.BytesIO(config), BlobInfo(), True)
        dest.put_manifest(manifest, mediatype.DOCKER_V2S2_MANIFEST if docker
                          else mediatype.OCI_MANIFEST)
        dest.publish()
    return manifest


def _manifest(text: str) -> bytes:
    with parse_image_name(text).new_image_source(CTX) as src:
        return src.get_manifest()[0]


def test_oci_writing_a_name_again_moves_it(tmp_path: Path) -> None:
    """The old entry stays, unnamed, where it was (containers/image's ``addManifest``)."""
    first = _put(f"oci:{tmp_path}:v1", b"one")
    second = _put(f"oci:{tmp_path}:v1", b"two")
    _put(f"oci:{tmp_path}:other", b"three")
    index = json.loads((tmp_path / "index.json").read_bytes())
    names = [m.get("annotations", {}).get("org.opencontainers.image.ref.name")
             for m in index["manifests"]]
    assert names == [None, "v1", "other"]
    assert index["manifests"][0]["digest"] == str(Digest.from_bytes(first))
    assert _manifest(f"oci:{tmp_path}:v1") == second != first
    assert (tmp_path / "blobs" / "sha256" / Digest.from_bytes(first).hex).exists()


def test_oci_source_without_name_needs_a_single_image(tmp_path: Path) -> None:
    manifest = _put(f"oci:{tmp_path}:a", b"one")
    assert _manifest(f"oci:{tmp_path}") == manifest
    _put(f"oci:{tmp_path}:b", b"two")
    with pytest.raises(HarnessError, match="2 images in the layout"):
        _manifest(f"oci:{tmp_path}")
    with pytest.raises(HarnessError, match="no image named 'c'"):
        _manifest(f"oci:{tmp_path}:c")


def test_oci_refuses_a_foreign_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(HarnessError, match="not empty and is not an OCI layout"):
        _put(f"oci:{tmp_path}:v1", b"x")


def test_nothing_is_named_without_commit(tmp_path: Path) -> None:
    _put(f"oci:{tmp_path}:v1", b"one")
    before = (tmp_path / "index.json").read_bytes()
    with parse_image_name(f"oci:{tmp_path}:v1").new_image_destination(CTX) as dest:
        dest.put_manifest(b"{}", mediatype.OCI_MANIFEST)
    assert (tmp_path / "index.json").read_bytes() == before


def test_blob_with_wrong_digest_leaves_no_file(tmp_path: Path) -> None:
    wrong = Digest.from_bytes(b"something else")
    with parse_image_name(f"dir:{tmp_path}/d").new_image_destination(CTX) as dest, \
            pytest.raises(DigestMismatchError):
        dest.put_blob(io.BytesIO(b"content"), BlobInfo(wrong), False)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["version"]


def test_dir_overwrites_a_dir_image_but_not_other_folders(tmp_path: Path) -> None:
    _put(f"dir:{tmp_path}/d", b"one")
    second = _put(f"dir:{tmp_path}/d", b"two")
    assert _manifest(f"dir:{tmp_path}/d") == second
    assert not (tmp_path / "d" / Digest.from_bytes(b"one").hex).exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep").write_text("precious")
    with pytest.raises(HarnessError, match="does not hold a dir image"):
        _put(f"dir:{tmp_path}/other", b"x")
    assert (tmp_path / "other" / "keep").read_text() == "precious"


def test_dir_detects_the_manifest_type(tmp_path: Path) -> None:
    _put(f"dir:{tmp_path}/d", b"one", docker=True)
    with parse_image_name(f"dir:{tmp_path}/d").new_image_source(CTX) as src:
        assert src.get_manifest()[1] == mediatype.DOCKER_V2S2_MANIFEST


def test_oci_archive_failure_keeps_the_old_archive(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    manifest = _put(f"oci-archive:{archive}:v1", b"one")
    with parse_image_name(f"oci-archive:{archive}:v1").new_image_destination(CTX) as dest:
        dest.put_blob(io.BytesIO(b"half"), BlobInfo(), False)  # then no commit
    assert _manifest(f"oci-archive:{archive}:v1") == manifest
    with tarfile.open(archive) as tar:
        assert {"oci-layout", "index.json"} <= set(tar.getnames())


def test_docker_archive_layout_and_refusal_to_modify(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    manifest = _put(f"docker-archive:{archive}:example.com/app:v1", b"layer", docker=True)
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        repositories = json.load(tar.extractfile("repositories"))  # type: ignore[arg-type]
        names = set(tar.getnames())
        legacy = repositories["example.com/app"]["v1"]
        link = tar.getmember(f"{legacy}/layer.tar")
        layer_json = json.load(tar.extractfile(f"{legacy}/json"))  # type: ignore[arg-type]
    parsed = DockerManifest.from_json(json.loads(manifest))
    assert index == [{"Config": f"{parsed.config.digest.hex}.json",
                      "RepoTags": ["example.com/app:v1"],
                      "Layers": [f"{parsed.layers[0].digest.hex}.tar"]}]
    # docker save's legacy layout too, as containers/image writes it (the bytes are
    # compared with buildah's and skopeo's in tests/builder/test_push_archive_tags.py)
    assert repositories == {"example.com/app": {"v1": legacy}}
    assert names == {"manifest.json", "repositories", index[0]["Config"],
                     index[0]["Layers"][0], f"{legacy}/layer.tar", f"{legacy}/VERSION",
                     f"{legacy}/json"}
    assert (link.issym(), link.linkname) == (True, f"../{index[0]['Layers'][0]}")
    assert layer_json["id"] == legacy
    with pytest.raises(HarnessError, match="modifying an existing archive is not supported"):
        _put(f"docker-archive:{archive}", b"again", docker=True)


def test_docker_archive_source_serves_what_was_written(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    written = _put(f"docker-archive:{archive}:app:v1", b"layer bytes", docker=True)
    layer = DockerManifest.from_json(json.loads(written)).layers[0]
    for text in (f"docker-archive:{archive}", f"docker-archive:{archive}:app:v1",
                 f"docker-archive:{archive}:@0"):
        with parse_image_name(text).new_image_source(CTX) as src:
            assert DockerManifest.from_json(json.loads(src.get_manifest()[0])).layers == [layer]
            stream, size = src.get_blob(BlobInfo(layer.digest))
            with stream:
                assert (stream.read(), size) == (b"layer bytes", len(b"layer bytes"))
    with pytest.raises(HarnessError, match="no image tagged 'other:v1'"):
        parse_image_name(f"docker-archive:{archive}:other:v1").new_image_source(CTX)
    with pytest.raises(HarnessError, match="no image @3"):
        parse_image_name(f"docker-archive:{archive}:@3").new_image_source(CTX)


def test_blobs_are_readable_by_others(tmp_path: Path) -> None:
    manifest = _put(f"oci:{tmp_path}:v1", b"one")
    blob = tmp_path / "blobs" / "sha256" / Digest.from_bytes(manifest).hex
    assert blob.stat().st_mode & 0o777 == 0o644


def _archive(path: Path, entries: list[dict[str, object]], files: dict[str, bytes]) -> Path:
    """A docker-archive tar written by hand: *entries* as manifest.json, then *files*."""
    with tarfile.open(path, "w") as tar:
        for name, data in {"manifest.json": json.dumps(entries).encode(), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_docker_archive_with_a_compressed_layer_serves_it_decompressed(tmp_path: Path) -> None:
    layer = b"pretend this is a layer tar" * 100
    config = b'{"rootfs":{"type":"layers","diff_ids":["%s"]}}' % str(
        Digest.from_bytes(layer)).encode()
    archive = _archive(tmp_path / "a.tar", [{"Config": "c.json", "RepoTags": [],
                                             "Layers": ["l/layer.tar"]}],
                       {"c.json": config, "l/layer.tar": gzip.compress(layer)})
    with parse_image_name(f"docker-archive:{archive}").new_image_source(CTX) as src:
        [descriptor] = DockerManifest.from_json(json.loads(src.get_manifest()[0])).layers
        assert (descriptor.digest, descriptor.size) == (Digest.from_bytes(layer), len(layer))
        stream, _ = src.get_blob(BlobInfo(descriptor.digest))
        with stream:
            assert stream.read() == layer


def test_docker_archive_with_a_broken_manifest_is_one_error(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"[42]"))
    with pytest.raises(HarnessError, match="must be a non-empty list of objects"):
        parse_image_name(f"docker-archive:{archive}").new_image_source(CTX)


@pytest.mark.parametrize("index", [b"{not json", b'{"schemaVersion":2,"manifests":[42]}',
                                   b'{"schemaVersion":2,"manifests":[{"digest":"x"}]}'])
def test_a_broken_index_json_is_one_error(tmp_path: Path, index: bytes) -> None:
    (tmp_path / "oci-layout").write_bytes(b'{"imageLayoutVersion":"1.0.0"}')
    (tmp_path / "index.json").write_bytes(index)
    with pytest.raises(HarnessError, match=r"index\.json"):
        _manifest(f"oci:{tmp_path}:v1")


def test_blob_of_the_wrong_size_leaves_no_file(tmp_path: Path) -> None:
    with parse_image_name(f"dir:{tmp_path}/d").new_image_destination(CTX) as dest, \
            pytest.raises(HarnessError, match="expected 99 bytes, got 7"):
        dest.put_blob(io.BytesIO(b"content"), BlobInfo(size=99), False)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["version"]


def test_docker_archive_with_several_images_needs_a_choice(tmp_path: Path) -> None:
    config = b'{"rootfs":{"type":"layers","diff_ids":[]}}'
    entry = {"Config": "c.json", "Layers": []}
    archive = _archive(tmp_path / "a.tar", [{**entry, "RepoTags": ["a:1"]},
                                            {**entry, "RepoTags": ["b:1"]}], {"c.json": config})
    with pytest.raises(HarnessError, match="2 images in the archive; choose one"):
        parse_image_name(f"docker-archive:{archive}").new_image_source(CTX)
    with parse_image_name(f"docker-archive:{archive}:b:1").new_image_source(CTX) as src:
        assert json.loads(src.get_manifest()[0])["layers"] == []


def test_docker_archive_layers_must_match_the_diff_ids(tmp_path: Path) -> None:
    config = b'{"rootfs":{"type":"layers","diff_ids":["%s"]}}' % str(
        Digest.from_bytes(b"x")).encode()
    archive = _archive(tmp_path / "a.tar", [{"Config": "c.json", "RepoTags": [],
                                             "Layers": ["1.tar", "2.tar"]}],
                       {"c.json": config, "1.tar": b"x", "2.tar": b"y"})
    with pytest.raises(HarnessError, match="2 layers but 1 diff_ids in the config"):
        parse_image_name(f"docker-archive:{archive}").new_image_source(CTX)


@pytest.mark.parametrize(("mime_type", "instance"), [
    (mediatype.OCI_MANIFEST, None),
    (mediatype.DOCKER_V2S2_MANIFEST, Digest.from_bytes(b"child"))])
def test_docker_archive_stores_only_one_schema2_manifest(tmp_path: Path, mime_type: str,
                                                         instance: Digest | None) -> None:
    with parse_image_name(f"docker-archive:{tmp_path}/a.tar").new_image_destination(
            CTX) as dest, pytest.raises(HarnessError, match="cannot store a"):
        dest.put_manifest(b"{}", mime_type, instance)


@pytest.mark.parametrize("how", ["tag", "instance"])
def test_oci_manifest_not_matching_its_digest_is_refused(tmp_path: Path, how: str,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    manifest = _put(f"oci:{tmp_path}/layout:v1", b"payload")
    digest = Digest.from_bytes(manifest)
    blob = tmp_path / "layout" / "blobs" / "sha256" / digest.hex
    blob.write_bytes(manifest.replace(b'"schemaVersion":2', b'"schemaVersion": 2'))
    source = f"oci:{tmp_path}/layout:v1"
    if how == "instance":
        with parse_image_name(source).new_image_source(CTX) as src, \
                pytest.raises(HarnessError, match=f"manifest {digest} .* hashes to sha256:"):
            src.get_manifest(digest)
        return
    policy = tmp_path / "policy.json"
    policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    code = main(["copy", "--policy", str(policy), "--quiet", source, f"dir:{tmp_path}/out"])
    err = capsys.readouterr().err
    assert code == 125
    assert err == (f"Error: oci: manifest {digest} in {tmp_path}/layout hashes to "
                   f"{Digest.from_bytes(blob.read_bytes())}: the layout is corrupt\n")
    assert not (tmp_path / "out" / "manifest.json").exists()
