"""Records, names, containers and removal rules of the store, on both backends."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from storehelp import make_image

from harness.model.digest import Digest
from harness.store.backend import BlobUnknownError
from harness.store.check import check, stale_files
from harness.store.store import ImageUnknownError, Store, StoreError
from harness.util.errors import HarnessError


def test_blob_round_trip_hashes_while_writing(store: Store) -> None:
    digest, size = store.put_blob(io.BytesIO(b"hello"))
    assert digest == Digest.from_bytes(b"hello")
    assert size == 5
    assert store.read_blob(digest) == b"hello"
    with pytest.raises(BlobUnknownError, match="not in the store"):
        store.open_blob(Digest.from_bytes(b"other"))


def test_image_lookup_by_name_id_and_prefix(store: Store) -> None:
    image, _ = make_image(store, {"a": b"1"}, ["localhost/one:latest"])
    assert store.image("localhost/one:latest").id == image.id
    assert store.image(image.id).id == image.id
    assert store.image(f"sha256:{image.id}").id == image.id
    assert store.image(image.id[:12]).id == image.id
    with pytest.raises(ImageUnknownError, match="'localhost/nope:latest' not known"):
        store.image("localhost/nope:latest")


def test_a_name_moves_from_one_image_to_another(store: Store) -> None:
    first, _ = make_image(store, {"a": b"1"}, ["localhost/x:latest", "localhost/keep:1"])
    second, _ = make_image(store, {"a": b"2"}, ["localhost/x:latest"])
    assert store.image("localhost/x:latest").id == second.id
    assert store.image(first.id).names == ["localhost/keep:1"]
    store.add_names(first.id, ["localhost/x:latest"])
    assert store.image(second.id).names == []
    assert store.image("localhost/x:latest").id == first.id


def test_remove_names_untags_only(store: Store) -> None:
    image, _ = make_image(store, {"a": b"1"}, ["localhost/a:1", "localhost/a:2"])
    store.remove_names(["localhost/a:1"])
    assert store.image(image.id).names == ["localhost/a:2"]
    with pytest.raises(ImageUnknownError):
        store.remove_names(["localhost/a:1"])


def test_container_gets_the_image_files(store: Store) -> None:
    base, layer = make_image(store, {"etc/hostname": b"base\n"}, ["localhost/base:latest"])
    top, _ = make_image(store, {"app/run": b"go"}, ["localhost/top:latest"], parent=layer)
    ctr = store.create_container("localhost/top:latest", "work")
    rootfs = store.rootfs(ctr.id)
    assert (rootfs / "etc/hostname").read_bytes() == b"base\n"
    assert (rootfs / "app/run").read_bytes() == b"go"
    assert set(store.snapshot(ctr.id)) == {"etc", "etc/hostname", "app", "app/run"}
    assert store.container("work").image_id == top.id
    assert base.id != top.id


def test_container_names_are_unique(store: Store) -> None:
    store.create_container(None, "same")
    with pytest.raises(StoreError, match="'same' is already in use"):
        store.create_container(None, "same")
    assert len(store.containers()) == 1


def test_removing_an_image_in_use_is_refused(store: Store) -> None:
    make_image(store, {"a": b"1"}, ["localhost/used:latest"])
    store.create_container("localhost/used:latest", "user")
    with pytest.raises(StoreError, match=r"in use by container.*user"):
        store.delete_image("localhost/used:latest")
    store.delete_container("user")
    store.delete_image("localhost/used:latest")
    assert store.images() == []


def test_removing_an_image_keeps_shared_layers_and_drops_its_own(store: Store) -> None:
    base, base_layer = make_image(store, {"a": b"1"}, ["localhost/base:latest"])
    top, top_layer = make_image(store, {"b": b"2"}, ["localhost/top:latest"], parent=base_layer)
    store.delete_image("localhost/base:latest")
    assert store.layer(base_layer.id) == base_layer  # the top image stands on it
    assert store.has_blob(base_layer.blob)
    assert not store.has_blob(Digest.parse(base.config_digest))
    store.delete_image(top.id)
    assert store.read().layers == {}
    assert not store.has_blob(base_layer.blob)
    assert not store.has_blob(top_layer.blob)
    assert check(store) == []


def test_adding_an_image_needs_its_blobs(store: Store) -> None:
    image, _ = make_image(store, {"a": b"1"}, ["localhost/a:latest"])
    image.id, image.config_digest = "f" * 64, "sha256:" + "f" * 64
    with pytest.raises(StoreError, match="not in the store"):
        store.add_image(image)


def test_check_reports_missing_and_corrupt_blobs(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "root")
    image, layer = make_image(store, {"a": b"1"}, ["localhost/a:latest"])
    store.create_container(image.id, "c")
    assert check(store) == []
    (tmp_path / "root/blobs/sha256" / layer.blob.hex).write_bytes(b"tampered")
    (tmp_path / "root/blobs/sha256" / image.config_digest[7:]).unlink()
    problems = check(store)
    assert any("hashes to" in p and layer.id in p for p in problems)
    assert any("is missing" in p and image.id in p for p in problems)


def test_check_reports_a_manifest_that_disagrees_with_the_layers(store: Store) -> None:
    image, _ = make_image(store, {"a": b"1"}, ["localhost/a:latest"])
    other, _ = make_image(store, {"b": b"2"}, ["localhost/b:latest"])
    with store.edit() as metadata:
        metadata.images[image.id].manifest_digest = other.manifest_digest
    problems = check(store)
    assert f"image {image.id}: manifest does not name config {image.config_digest}" in problems
    assert f"image {image.id}: manifest layers differ from the layers recorded for the image" \
        in problems


def test_disk_store_persists_across_opens(tmp_path: Path) -> None:
    image, _ = make_image(Store.open(tmp_path / "r"), {"a": b"1"}, ["localhost/p:latest"])
    again = Store.open(tmp_path / "r")
    assert again.image("localhost/p:latest").id == image.id


_WRITER = """
import sys
from pathlib import Path
from harness.store.store import Store
sys.path.insert(0, sys.argv[3])
from storehelp import make_image
store = Store.open(Path(sys.argv[1]))
for i in range(15):
    make_image(store, {"f": f"{sys.argv[2]}-{i}".encode()}, [f"localhost/p{sys.argv[2]}:{i}"])
"""


def test_concurrent_processes_lose_no_update(tmp_path: Path) -> None:
    root = tmp_path / "shared"
    here = str(Path(__file__).parent)
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(root), str(n), here])
             for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    store = Store.open(root)
    assert len(store.images()) == 60
    assert check(store) == []


def test_unreadable_metadata_is_a_one_line_error(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "r")
    (tmp_path / "r/metadata.json").write_text('{"images": [{"id": 1}]}')
    with pytest.raises(HarnessError, match="store metadata is unreadable"):
        store.images()


def test_stale_files_are_temporaries_and_unreferenced_blobs(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "r")
    make_image(store, {"a": b"1"}, ["localhost/a:latest"])
    orphan, _ = store.put_blob(io.BytesIO(b"never recorded"))
    temp = tmp_path / "r/blobs/sha256/.tmp-interrupted"
    temp.write_bytes(b"half")
    assert stale_files(store, min_age_s=3600) == []  # too fresh: a writer may be live
    assert stale_files(store, min_age_s=0) == sorted(
        [tmp_path / "r/blobs/sha256" / orphan.hex, temp])
    assert check(store) == []  # left-behind files are not inconsistencies
