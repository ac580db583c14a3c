"""The harness-store transport over the project's store, and progress on a TTY."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from harness.copy.blobcopy import copy_blob
from harness.copy.engine import CopyOptions, copy_image
from harness.copy.report import Reporter
from harness.model import mediatype as mt
from harness.model.compression import Algorithm
from harness.model.digest import Digest
from harness.model.manifest import parse_manifest
from harness.pytest_plugin.images import BuiltImage, ImageSpec, plain_layers, write_image
from harness.pytest_plugin.trees import files_tree
from harness.store.store import Store
from harness.transports.alltransports import TRANSPORTS, parse_image_name
from harness.transports.harness_store import HarnessStoreReference
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError


def _copy(src: str, dest: str, policy: Path, **kwargs: object) -> object:
    options = CopyOptions(signature_policy_path=policy, **kwargs)  # type: ignore[arg-type]
    return copy_image(parse_image_name(dest), parse_image_name(src), options)


def test_store_round_trip_keeps_manifest_and_names_the_image(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    root = tmp_path / "root"
    stored = f"harness-store:[{root}]localhost/app:v1"
    _copy(src, stored, policy)
    store = Store.open(root)
    image = store.image("localhost/app:v1")
    assert image.digest == Digest.from_bytes(built.manifest)
    assert image.id == Digest.from_bytes(built.config).hex
    assert len(store.layer_chain(image.top_layer)) == 2
    result = _copy(stored, f"dir:{tmp_path}/out", policy)
    assert result.manifest == built.manifest  # type: ignore[attr-defined]
    by_id = f"harness-store:[{root}]{image.id}"
    assert plain_layers(parse_image_name(by_id)) == built.layer_tars()


def test_store_layers_record_their_compression(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    """The store keeps layers as they come, as containers/storage's destination: an
    asked compression is only for destinations that compress."""
    root = tmp_path / "root"
    _copy(oci_image[0], f"harness-store:[{root}]localhost/gzip:v1", policy,
          compression=Algorithm.NONE)
    plain = f"oci:{tmp_path}/plain:v1"
    built = write_image(ImageSpec((files_tree({"a": b"plain\n"}),), compression=Algorithm.NONE),
                        parse_image_name(plain))
    _copy(plain, f"harness-store:[{root}]localhost/plain:v1", policy,
          compression=Algorithm.GZIP)
    store = Store.open(root)
    for name, compression, tars in (("gzip", "gzip", oci_image[1].layer_tars()),
                                    ("plain", "none", built.layer_tars())):
        layers = store.layer_chain(store.image(f"localhost/{name}:v1").top_layer)
        assert {layer.compression for layer in layers} == {compression}
        with store.open_layer_diff(layers[-1]) as diff:
            assert diff.read() == tars[-1]


def test_store_root_comes_from_the_context_and_name_gets_latest(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    ctx = SystemContext(store_root=tmp_path / "root")
    copy_image(parse_image_name("harness-store:example.com/app"),
               parse_image_name(oci_image[0]),
               CopyOptions(dest_ctx=ctx, signature_policy_path=policy))
    assert Store.open(tmp_path / "root").find_image("example.com/app:latest") is not None


def test_bound_store_and_unknown_image(tmp_path: Path) -> None:
    ref = parse_image_name("harness-store:localhost/none:v1")
    assert isinstance(ref, HarnessStoreReference)
    with pytest.raises(HarnessError, match="no store root"):
        ref.new_image_source(SystemContext())
    bound = HarnessStoreReference(ref.parsed, Store.memory())
    with pytest.raises(HarnessError, match="not known in the local store"):
        bound.new_image_source(SystemContext())


def test_storage_scopes(tmp_path: Path) -> None:
    ref = parse_image_name(f"harness-store:[{tmp_path}]example.com/ns/app:v1")
    assert ref.policy_configuration_identity() == f"[{tmp_path}]example.com/ns/app:v1"
    assert ref.policy_configuration_namespaces() == [
        f"[{tmp_path}]example.com/ns/app", f"[{tmp_path}]example.com/ns",
        f"[{tmp_path}]example.com", f"[{tmp_path}]"]
    transport = TRANSPORTS["harness-store"]
    transport.validate_policy_configuration_scope(f"[{tmp_path}]")
    transport.validate_policy_configuration_scope("example.com/app")
    with pytest.raises(HarnessError, match="invalid policy scope"):
        transport.validate_policy_configuration_scope("[relative]x")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bars_on_a_terminal_show_bytes_and_rate() -> None:
    out = _Terminal()
    digest = Digest.from_bytes(b"blob")
    with Reporter(out) as reporter:
        reporter.line("Getting image source signatures")
        with reporter.bar(digest, 3 * 1024 * 1024) as progress:
            for _ in range(3):
                progress(1024 * 1024)
    text = out.getvalue()
    assert "Getting image source signatures" in text
    assert f"blob {digest.hex[:12]}" in text
    assert "3.1/3.1 MB" in text
    assert "/s" in text


def test_no_bars_off_a_terminal() -> None:
    out = io.StringIO()
    with Reporter(out) as reporter, reporter.bar(Digest.from_bytes(b"x"), 10) as progress:
        progress(10)
    assert out.getvalue() == ""




@pytest.mark.parametrize("target", [None, Algorithm.ZSTD])
def test_progress_counts_source_bytes(oci_image: tuple[str, BuiltImage], tmp_path: Path,
                                      target: Algorithm | None) -> None:
    src, built = oci_image
    layer = parse_manifest(built.manifest).layers[0]
    counted: list[int] = []
    with parse_image_name(src).new_image_source(SystemContext()) as source, \
            parse_image_name(f"dir:{tmp_path}/d").new_image_destination(
                SystemContext()) as dest:
        copy_blob(source, dest, layer, target, level=None, progress=counted.append)
    assert sum(counted) == layer.size


def test_schema1_image_is_stored_as_schema2_with_learnt_diff_ids(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    _copy(src, f"dir:{tmp_path}/s1", policy, manifest_type=mt.DOCKER_V2S1_SIGNED_MANIFEST)
    root = tmp_path / "root"
    result = _copy(f"dir:{tmp_path}/s1", f"harness-store:[{root}]localhost/old:v1", policy)
    assert result.media_type == mt.DOCKER_V2S2_MANIFEST  # type: ignore[attr-defined]
    stored = f"harness-store:[{root}]localhost/old:v1"
    assert plain_layers(parse_image_name(stored)) == built.layer_tars()
    store = Store.open(root)
    layers = store.layer_chain(store.image("localhost/old:v1").top_layer)
    assert [layer.diff_digest for layer in layers] == [str(d) for d in built.diff_ids]
