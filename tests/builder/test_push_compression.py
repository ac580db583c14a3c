"""``push`` and ``commit`` with and without ``-D`` write, for every kind of destination, the layers
``buildah push`` 1.28.2 writes: the same image pushed by both, then the layer media types,
the layer bytes (decompressed for gzip blobs: the compressor differs, docs/store.md item
4), the config bytes, and the manifest bytes where no layer is compressed, compared; a
``docker-archive:`` file is compared whole, byte for byte.

buildah's ``push -D`` changes only ``dir:``; a registry and an OCI layout get gzip anyway,
``docker-archive:`` and ``containers-storage:`` uncompressed layers anyway. ``commit``
(``-D`` by default) sends gzip layers to a registry, and none to ``docker-archive:``
even with ``-D=false`` (``harness.builder.push._compression_context`` and
:func:`harness.builder.commit.commit_context` say why)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from harness.model import mediatype
from harness.model.compression import MAGIC, Algorithm, decompress
from harness.peers.clients import Buildah
from harness.peers.launchers import RunningRegistry
from tests.builder.parity import BuildahSide, Case, Inputs, OurSide, two_layer_image

GZIP_MAGIC = b"\x1f\x8b"
KINDS = ("docker", "dir", "oci", "oci-archive", "docker-archive", "containers-storage")
# What buildah 1.28.2 writes (observed; the test checks it still does): kind -> (without
# -D, with -D), True for gzip layers.
GZIPPED = {"docker": (True, True), "dir": (True, False), "oci": (True, True),
           "oci-archive": (True, True), "docker-archive": (False, False),
           "containers-storage": (False, False)}


@dataclass
class Written:
    manifest: bytes
    config: bytes
    layers: list[tuple[str | None, bytes]]  # media type (None in docker-archive:), blob


def _harness(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, env=dict(os.environ), check=False)
    assert done.returncode == 0, done.stderr


def _layout(root: Path) -> Written:
    def blob(digest: str) -> bytes:
        return (root / "blobs/sha256" / digest.split(":")[1]).read_bytes()

    manifest = blob(json.loads((root / "index.json").read_text())["manifests"][0]["digest"])
    parsed = json.loads(manifest)
    return Written(manifest, blob(parsed["config"]["digest"]),
                   [(layer["mediaType"], blob(layer["digest"])) for layer in parsed["layers"]])


def _read(kind: str, where: str, tmp: Path, registry: RunningRegistry | None = None,
          store: Buildah | None = None) -> Written:
    """What a push or commit wrote at *where*: in *registry*, or in buildah's *store* as
    ``buildah inspect`` shows the image, or in a file or directory."""
    if kind == "docker":
        assert registry is not None
        repo, tag = where.split("/", 1)[1].split(":")
        manifest = requests.get(f"{registry.url}/v2/{repo}/manifests/{tag}", timeout=30,
                                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        manifest.raise_for_status()
        parsed = manifest.json()

        def blob(digest: str) -> bytes:
            got = requests.get(f"{registry.url}/v2/{repo}/blobs/{digest}", timeout=30)
            got.raise_for_status()
            return got.content

        return Written(manifest.content, blob(parsed["config"]["digest"]),
                       [(layer["mediaType"], blob(layer["digest"]))
                        for layer in parsed["layers"]])
    if kind == "dir":
        root = Path(where)
        raw = (root / "manifest.json").read_bytes()
        parsed = json.loads(raw)
        return Written(raw, (root / parsed["config"]["digest"].split(":")[1]).read_bytes(),
                       [(layer["mediaType"], (root / layer["digest"].split(":")[1]).read_bytes())
                        for layer in parsed["layers"]])
    if kind == "oci":
        return _layout(_layout_root(kind, where, tmp))
    if kind == "oci-archive":
        unpacked = _layout_root(kind, where, tmp)
        with tarfile.open(where.rsplit(":", 1)[0]) as tar:
            tar.extractall(unpacked, filter="data")
        return _layout(unpacked)
    if kind == "docker-archive":
        with tarfile.open(where.rsplit(":", 2)[0]) as tar:
            def member(name: str) -> bytes:
                file = tar.extractfile(name)
                assert file is not None
                return file.read()

            raw = member("manifest.json")
            [entry] = json.loads(raw)
            return Written(raw, member(entry["Config"]),
                           [(None, member(name)) for name in entry["Layers"]])
    assert store is not None
    info = json.loads(store.run("inspect", "--type", "image", where).stdout)
    raw = info["Manifest"].encode()
    # The store keeps layers unpacked: the manifest bytes name what was written.
    return Written(raw, info["Config"].encode(),
                   [(layer["mediaType"], b"") for layer in json.loads(raw)["layers"]])


def _layout_root(kind: str, where: str, tmp: Path) -> Path:
    """The layout folder of an ``oci:`` destination, or where an ``oci-archive:`` one is
    unpacked."""
    if kind == "oci":
        return Path(where.rsplit(":", 1)[0])
    return tmp / f"unpacked-{Path(where).name}"


def _destination(kind: str, tag: str, tmp: Path, registry: RunningRegistry,
                 store: Buildah) -> tuple[str, str]:
    """The destination argument of a push, and where :func:`_read` finds what it wrote;
    a containers-storage: one goes to *store* (each tool's own: in one store, the same
    image ID would only get another name)."""
    where = {"docker": f"{registry.host}/compression/{tag}:v1", "dir": str(tmp / tag),
             "oci": f"{tmp / tag}:v1", "oci-archive": f"{tmp / tag}.tar:v1",
             "docker-archive": f"{tmp / tag}.tar:app:v1",
             "containers-storage": f"pushed-{tag}:v1"}[kind]
    if kind == "containers-storage":
        return f"{kind}:{store.store_spec}{where}", where
    return f"{kind}:{'//' if kind == 'docker' else ''}{where}", where


@pytest.mark.requires_peer("buildah")
@pytest.mark.parametrize("algorithm", [Algorithm.GZIP, Algorithm.ZSTD])
@pytest.mark.parametrize("kind", KINDS)
def test_push_compresses_as_buildah(kind: str, algorithm: Algorithm, tmp_path: Path,
                                    distribution: RunningRegistry, policy: Path) -> None:
    """Without a format (gzip) and with ``--compression-format zstd``, which replaces
    gzip where the destination compresses and changes nothing elsewhere."""
    buildah = Buildah(tmp_path / "buildah", registry=distribution)
    other_store = Buildah(tmp_path / "other-store")
    # By ID: a push by name to docker-archive: also writes the name found in the store
    # into RepoTags (libimage's "Buildah compat" tag), which this test is not about.
    image = two_layer_image(buildah, tmp_path)
    source = f"containers-storage:{buildah.store_spec}{image}"
    tls = buildah.config.registry_flags(distribution) if kind == "docker" else []
    asked = ("--compression-format", "zstd") if algorithm is Algorithm.ZSTD else ()
    for disable, gzipped in zip(((), ("-D",)), GZIPPED[kind], strict=True):
        flag = "disabled" if disable else "plain"
        theirs_dest, theirs_at = _destination(kind, f"buildah-{flag}", tmp_path, distribution,
                                              buildah)
        ours_dest, ours_at = _destination(kind, f"ours-{flag}", tmp_path, distribution,
                                          other_store)
        buildah.push(image, theirs_dest, "--quiet", *asked, *disable)
        _harness("push", "-q", "--signature-policy", str(policy), *tls, *asked, *disable,
                 source, ours_dest)
        theirs = _read(kind, theirs_at, tmp_path, distribution, buildah)
        _same(_read(kind, ours_at, tmp_path, distribution, other_store), theirs,
              gzipped=gzipped, why=flag, algorithm=algorithm)
        _same_archive(kind, ours_at, theirs_at)
        _same_layout_files(kind, ours_at, theirs_at, tmp_path)
        compressed = mediatype.OCI_LAYER_ZSTD if algorithm is Algorithm.ZSTD \
            else mediatype.OCI_LAYER_GZIP
        expected = compressed if gzipped else \
            None if kind == "docker-archive" else mediatype.OCI_LAYER
        assert [t for t, _ in theirs.layers] == [expected] * 2, flag


def _same(ours: Written, theirs: Written, *, gzipped: bool, why: str,
          algorithm: Algorithm = Algorithm.GZIP) -> None:
    """Equal media types and config bytes; compressed layers (in both, iff *gzipped*,
    with *algorithm*) equal once uncompressed, every other layer and then the manifest
    equal byte for byte."""
    assert [t for t, _ in ours.layers] == [t for t, _ in theirs.layers], why
    assert ours.config == theirs.config, why
    magic = MAGIC[algorithm]
    for (_, mine), (_, buildahs) in zip(ours.layers, theirs.layers, strict=True):
        assert buildahs.startswith(magic) is gzipped, why
        if gzipped:
            assert mine.startswith(magic), why
            assert _plain(mine) == _plain(buildahs), why
        else:
            assert mine == buildahs, why
    if not gzipped:
        assert ours.manifest == theirs.manifest, why


def _same_archive(kind: str, ours_at: str, theirs_at: str) -> None:
    """A docker-archive: (uncompressed layers) is buildah's file byte for byte."""
    if kind == "docker-archive":
        ours, theirs = (Path(at.rsplit(":", 2)[0]) for at in (ours_at, theirs_at))
        assert ours.read_bytes() == theirs.read_bytes()


def _same_layout_files(kind: str, ours_at: str, theirs_at: str, tmp: Path) -> None:
    """An OCI layout's ``oci-layout`` is buildah's byte for byte, and so is its
    ``index.json`` once buildah's manifest digest and size are ours: the manifests differ
    by their gzip layers' digests (docs/store.md item 4; tests/copy/test_copy_oci_layout_peers.py
    compares both files with skopeo's on the same bytes, digests included)."""
    if kind not in ("oci", "oci-archive"):
        return
    ours, theirs = (_layout_root(kind, at, tmp) for at in (ours_at, theirs_at))
    assert (ours / "oci-layout").read_bytes() == (theirs / "oci-layout").read_bytes()
    mine, buildahs = ((root / "index.json").read_bytes() for root in (ours, theirs))
    [entry], [their_entry] = (json.loads(raw)["manifests"] for raw in (mine, buildahs))
    for field in ("digest", "size"):
        buildahs = buildahs.replace(f'"{field}":{json.dumps(their_entry[field])}'.encode(),
                                    f'"{field}":{json.dumps(entry[field])}'.encode())
    assert mine == buildahs


def _plain(blob: bytes) -> bytes:
    return decompress(io.BytesIO(blob)).read()


# buildah 1.28.2's commit, observed: kind -> (-D, the default; -D=false), True for gzip.
COMMIT_GZIPPED = {"docker": (True, True), "dir": (False, True), "oci": (False, True),
                  "oci-archive": (False, True), "docker-archive": (False, False)}


def _containers(tmp_path: Path, policy: Path) -> tuple[BuildahSide, str, OurSide, str]:
    """A container on a base image (two layers) made by both tools, ours under buildah's
    container ID (the Docker config names it)."""
    base = Case("base", lambda root: (root / "base").write_text("base layer\n" * 500))
    case = Case("top", lambda root: (root / "top").write_text("top layer\n" * 700), base=base)
    buildah, ours = BuildahSide(tmp_path / "buildah"), OurSide(tmp_path / "ours", policy)
    inputs = Inputs(tmp_path / "layout", tmp_path / "add-source")
    their_ctr = buildah.container(case, inputs)
    return buildah, their_ctr, ours, ours.container(case, inputs,
                                                    buildah.container_id(their_ctr))


@pytest.mark.requires_peer("buildah")
def test_commit_to_containers_storage_keeps_layers_as_built(tmp_path: Path,
                                                             policy: Path) -> None:
    """buildah's store keeps what buildah's image source serves: with -D=false the base
    layer uncompressed and the new one gzip. Equal manifests but for the gzip blob's
    digest and size (the compressor, docs/store.md item 4), equal configs."""
    buildah, their_ctr, ours, our_ctr = _containers(tmp_path, policy)
    for disable, types in (("-D", [mediatype.OCI_LAYER] * 2),
                           ("-D=false", [mediatype.OCI_LAYER, mediatype.OCI_LAYER_GZIP])):
        # A store each: both commits have one image ID, which a store would only rename.
        tag = "disabled" if disable == "-D" else "plain"
        their_store = Buildah(tmp_path / f"theirs-{tag}")
        our_store = Buildah(tmp_path / f"ours-{tag}")
        buildah.commit_output(their_ctr, (disable,),
                              f"containers-storage:{their_store.store_spec}out:v1")
        ours.commit_output(our_ctr, (disable,), f"containers-storage:{our_store.store_spec}out:v1")
        theirs = _read("containers-storage", "out:v1", tmp_path, store=their_store)
        mine = _read("containers-storage", "out:v1", tmp_path, store=our_store)
        assert mine.config == theirs.config, disable
        our_manifest, their_manifest = json.loads(mine.manifest), json.loads(theirs.manifest)
        assert [x["mediaType"] for x in their_manifest["layers"]] == types, disable
        for manifest in (our_manifest, their_manifest):  # the named difference only
            for layer in manifest["layers"]:
                if layer["mediaType"].endswith("gzip"):
                    layer.pop("digest")
                    layer.pop("size")
        assert our_manifest == their_manifest, disable
        if disable == "-D":
            assert mine.manifest == theirs.manifest


@pytest.mark.requires_peer("buildah")
@pytest.mark.parametrize("kind", COMMIT_GZIPPED)
def test_commit_compresses_as_buildah(kind: str, tmp_path: Path,
                                      distribution: RunningRegistry, policy: Path) -> None:
    """The same container (on a base image: two layers) committed by both tools."""
    buildah, their_ctr, ours, our_ctr = _containers(tmp_path, policy)
    buildah.tool.registry = distribution
    tls = tuple(buildah.tool.config.registry_flags(distribution)) if kind == "docker" else ()
    for disable, gzipped in zip(("-D", "-D=false"), COMMIT_GZIPPED[kind], strict=True):
        why = f"commit {disable}"
        tag = "disabled" if disable == "-D" else "plain"
        theirs_dest, theirs_at = _destination(kind, f"commit-buildah-{tag}", tmp_path,
                                              distribution, buildah.tool)
        ours_dest, ours_at = _destination(kind, f"commit-ours-{tag}", tmp_path,
                                          distribution, buildah.tool)  # no store written
        buildah.commit_output(their_ctr, (*tls, disable), theirs_dest)
        ours.commit_output(our_ctr, (*tls, disable), ours_dest)
        _same(_read(kind, ours_at, tmp_path, distribution),
              _read(kind, theirs_at, tmp_path, distribution), gzipped=gzipped, why=why)
        _same_archive(kind, ours_at, theirs_at)
