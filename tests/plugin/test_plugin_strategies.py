"""Layer trees and whole images: what the strategies draw renders into real layers that the
store applies exactly as the model says, and images that survive a registry round trip."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from harness import strategies
from harness.model import mediatype
from harness.model.compression import layer_media_type
from harness.model.digest import Digest
from harness.model.manifest import DockerManifest, OCIManifest, parse_manifest
from harness.pytest_plugin.images import ImageSpec, random_spec, write_image
from harness.pytest_plugin.trees import (
    ImageSpecError,
    LayerTree,
    TreeEntry,
    apply_tree,
    layer_stream,
    layer_tar,
    random_content,
    tree_paths,
)
from harness.store.apply import apply_layer

FIXTURES = [HealthCheck.function_scoped_fixture]


@settings(max_examples=60)
@given(tree=strategies.layer_trees())
def test_a_tree_renders_as_the_tar_it_describes(tree: LayerTree) -> None:
    data = layer_tar(tree)
    assert data == layer_tar(tree)  # deterministic
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == [e.path for e in tree_paths(tree)]
        for member, entry in zip(members, tree_paths(tree), strict=True):
            assert (member.isfile(), member.isdir(), member.issym()) == (
                entry.kind == "file", entry.kind == "dir", entry.kind == "symlink")
            if entry.kind == "file":
                content = tar.extractfile(member)
                assert content is not None
                assert content.read() == b"".join(random_content(entry.seed, entry.size))
                assert member.mode == stat.S_IFREG | entry.mode  # Go's mode, with type bits
            if entry.kind == "symlink":
                assert member.linkname == entry.target


def _walk(root: Path) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(directory, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = ("symlink", str(path.readlink()))
            elif path.is_dir():
                found[rel] = ("dir", "")
            else:
                found[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def _expected(state: dict[str, TreeEntry]) -> dict[str, tuple[str, str]]:
    def describe(entry: TreeEntry) -> tuple[str, str]:
        if entry.kind == "file":
            digest = hashlib.sha256(b"".join(random_content(entry.seed, entry.size)))
            return ("file", digest.hexdigest())
        return (entry.kind, entry.target)
    return {path: describe(entry) for path, entry in state.items()}


@settings(max_examples=40, suppress_health_check=FIXTURES)
@given(stack=strategies.layer_stacks())
def test_the_store_applies_a_stack_as_the_model_says(stack: tuple[LayerTree, ...],
                                                     tmp_path_factory: pytest.TempPathFactory
                                                     ) -> None:
    root = tmp_path_factory.mktemp("root")
    state: dict[str, TreeEntry] = {}
    for layer in stack:
        with layer_stream(layer) as stream:
            apply_layer(root, stream)
        state = apply_tree(state, layer)
        assert _walk(root) == _expected(state)


def test_upper_layers_replace_and_delete_lower_paths() -> None:
    lower = (TreeEntry("etc/x.conf", size=10, seed=1), TreeEntry("bin/sh", size=5))
    upper = (TreeEntry("etc", "whiteout"), TreeEntry("bin/sh", "symlink", target="/usr/bin/x"))
    state = apply_tree(apply_tree({}, lower), upper)
    assert sorted(state) == ["bin", "bin/sh"]
    assert state["bin/sh"].kind == "symlink"


@settings(max_examples=30, suppress_health_check=FIXTURES)
@given(spec=strategies.image_specs())
def test_image_specs_are_buildable(spec: ImageSpec,
                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every drawn spec writes: its stored manifest type, one layer per tree, each in the
    drawn compression, and the blobs and manifest land in the destination."""
    from harness.transports.directory import TRANSPORT  # noqa: PLC0415

    work = tmp_path_factory.mktemp("spec")
    built = write_image(spec, TRANSPORT.parse_reference(str(work)))
    assert (work / "manifest.json").read_bytes() == built.manifest
    manifest = parse_manifest(built.manifest)
    assert isinstance(manifest, OCIManifest | DockerManifest)
    assert manifest.media_type == spec.stored_type
    oci = spec.stored_type == mediatype.OCI_MANIFEST
    assert [d.media_type for d in manifest.layers] == [
        layer_media_type(spec.compression, oci)] * len(spec.layers)
    for layer in manifest.layers:
        assert Digest.from_bytes((work / layer.digest.encoded).read_bytes()) == layer.digest


def test_random_spec_is_deterministic_and_sized() -> None:
    spec = random_spec(seed=9, layers=3, size=10_000)
    assert spec == random_spec(seed=9, layers=3, size=10_000)
    assert spec != random_spec(seed=10, layers=3, size=10_000)
    assert len(spec.layers) == 3
    assert sum(e.size for tree in spec.layers for e in tree) == 10_000


@pytest.mark.parametrize("path", ["/abs", "a/../b", "a//b", "", "./a"])
def test_tree_paths_must_be_relative_and_normalised(path: str) -> None:
    with pytest.raises(ImageSpecError, match="relative and normalised"):
        TreeEntry(path)


def test_unbuildable_manifest_type_is_refused() -> None:
    with pytest.raises(ImageSpecError, match=r"cannot build a application/vnd\.oci\.image\.index"):
        random_spec(manifest_type=mediatype.OCI_INDEX)


@pytest.mark.requires_peer("umoci")
@settings(max_examples=8, suppress_health_check=FIXTURES)
@given(stack=strategies.layer_stacks())
def test_umoci_unpacks_a_built_image_as_the_model_says(
        stack: tuple[LayerTree, ...], tmp_path_factory: pytest.TempPathFactory) -> None:
    """The rendered layers, whiteouts included, mean to a real tool what the model says."""
    from harness.transports.oci import TRANSPORT  # noqa: PLC0415

    work = tmp_path_factory.mktemp("umoci")
    write_image(ImageSpec(stack), TRANSPORT.parse_reference(f"{work / 'layout'}:t"))
    subprocess.run(["umoci", "unpack", "--image", f"{work / 'layout'}:t", str(work / "bundle")],
                   check=True, capture_output=True)
    state: dict[str, TreeEntry] = {}
    for layer in stack:
        state = apply_tree(state, layer)
    assert _walk(work / "bundle" / "rootfs") == _expected(state)
