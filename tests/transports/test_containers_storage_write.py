"""Writing into containers/storage: buildah and podman see, run and push what this
project stored, with the digests they would have produced themselves."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from harness.peers.clients import Buildah
from harness.store.containers import conf
from harness.store.containers.store import ContainersStore

pytestmark = pytest.mark.requires_peer("buildah")

sys.path.insert(0, str(Path(__file__).parent))
from test_containers_storage import (  # noqa: E402
    _harness,
    _tree_state,
    _two_layer_image,
)


@pytest.fixture(params=["vfs", "overlay"])
def driver(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _layout_manifest(layout: Path, tag: str) -> tuple[str, dict[str, object]]:
    index = json.loads((layout / "index.json").read_text())
    entry = next(m for m in index["manifests"]
                 if m["annotations"]["org.opencontainers.image.ref.name"] == tag)
    return entry["digest"], json.loads((layout / "blobs/sha256" / entry["digest"][7:])
                                       .read_bytes())


def test_buildah_and_podman_see_push_and_build_on_what_was_written(
        driver: str, tmp_path: Path, policy: Path) -> None:
    source = Buildah(tmp_path / "source", driver=driver)
    _two_layer_image(source, tmp_path, "localhost/app")
    layout = tmp_path / "layout"
    source.push("localhost/app", f"oci:{layout}:app")  # gzip layers, as from a registry
    target = Buildah(tmp_path / "target", driver=driver)
    done = _harness("copy", "--quiet", "--policy", str(policy), f"oci:{layout}:app",
                    f"containers-storage:{target.store_spec}localhost/copied:v1")
    assert done.returncode == 0, done.stderr
    pushed_digest, pushed = _layout_manifest(layout, "app")

    images = json.loads(target.run("images", "--json", "--no-trunc").stdout)
    assert [(i["names"], i["id"]) for i in images] == [
        (["localhost/copied:v1"], pushed["config"]["digest"])]  # type: ignore[index]
    info = json.loads(target.run("inspect", "--type", "image", "localhost/copied:v1").stdout)
    assert info["FromImageDigest"] == pushed_digest
    # buildah pushes it from this store exactly as it pushes the original from its own
    target.push("localhost/copied:v1", f"oci:{layout}:again")
    source.push("localhost/app", f"oci:{layout}:original")
    assert _layout_manifest(layout, "again") == _layout_manifest(layout, "original")
    # and builds on it: a container from it sees the files of both layers
    ctr = target.from_image("localhost/copied:v1")
    mount = Path(target.run("mount", ctr).stdout.strip())
    assert (mount / "etc/app.conf").read_text() == "port=8080\n"
    assert not (mount / "gone").exists()
    assert (mount / "bin/hard").read_bytes() == (mount / "bin/run").read_bytes()
    assert (mount / "bin/alias").readlink() == Path("run")
    target.run("umount", ctr)
    target.run("rm", "--all")


@pytest.mark.requires_peer("busybox")
def test_buildah_runs_what_was_written(driver: str, tmp_path: Path, policy: Path) -> None:
    """``buildah run`` (chroot isolation) runs a busybox image this project stored.
    ``podman run`` cannot run anything on this machine (runc may not set rlimits here),
    so it is not part of the test."""
    busybox = shutil.which("busybox")
    assert busybox is not None
    root = tmp_path / "rootfs/bin"
    root.mkdir(parents=True)
    shutil.copy(busybox, root / "busybox")
    (root / "sh").symlink_to("busybox")
    maker = Buildah(tmp_path / "maker")
    ctr = maker.from_image("scratch")
    maker.copy(ctr, tmp_path / "rootfs", "/")
    maker.commit(ctr, f"oci:{tmp_path / 'layout'}:bb", "--quiet")
    target = Buildah(tmp_path / "target", driver=driver)
    done = _harness("copy", "--quiet", "--policy", str(policy), f"oci:{tmp_path / 'layout'}:bb",
                    f"containers-storage:{target.store_spec}localhost/bb:v1")
    assert done.returncode == 0, done.stderr
    ctr = target.from_image("localhost/bb:v1")
    out = target.run("run", ctr, "--", "/bin/sh", "-c", "echo ran as $(id -u)")
    assert out.stdout.strip() == "ran as 0"
    target.run("rm", "--all")


def test_a_write_that_fails_leaves_the_store_as_it_was(driver: str, tmp_path: Path,
                                                       policy: Path) -> None:
    """A config whose diffID does not match its layer: the layer written so far is
    removed, and layers.json/images.json keep their bytes."""
    source = Buildah(tmp_path / "source", driver=driver)
    _two_layer_image(source, tmp_path, "localhost/app")
    target = Buildah(tmp_path / "target", driver=driver)
    ok = _harness("copy", "--quiet", "--policy", str(policy),
                  f"containers-storage:{source.store_spec}localhost/app-base",
                  f"containers-storage:{target.store_spec}localhost/base:v1")
    assert ok.returncode == 0, ok.stderr
    layout = tmp_path / "bad"
    source.push("localhost/app", f"oci:{layout}:x", "--format", "oci")
    digest, manifest = _layout_manifest(layout, "x")
    blobs = layout / "blobs/sha256"
    config = json.loads((blobs / manifest["config"]["digest"][7:]).read_bytes())  # type: ignore[index]
    config["rootfs"]["diff_ids"][-1] = "sha256:" + "0" * 64
    raw = json.dumps(config).encode()
    new = hashlib.sha256(raw).hexdigest()
    (blobs / new).write_bytes(raw)
    manifest["config"] = {**manifest["config"], "digest": f"sha256:{new}",  # type: ignore[dict-item]
                          "size": len(raw)}
    (blobs / digest[7:]).write_bytes(json.dumps(manifest).encode())
    mdigest = hashlib.sha256((blobs / digest[7:]).read_bytes()).hexdigest()
    (blobs / mdigest).write_bytes((blobs / digest[7:]).read_bytes())
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["digest"] = f"sha256:{mdigest}"
    index["manifests"][0]["size"] = (blobs / mdigest).stat().st_size
    (layout / "index.json").write_text(json.dumps(index))
    records = {p: p.read_bytes() for p in target.root.rglob("*.json")}
    paths = set(_tree_state(target.root))
    bad = _harness("copy", "--quiet", "--policy", str(policy), f"oci:{layout}:x",
                   f"containers-storage:{target.store_spec}localhost/bad:v1")
    assert bad.returncode != 0
    assert bad.stderr.strip().splitlines()[-1].startswith("Error: containers-storage: layer ")
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert {p: p.read_bytes() for p in target.root.rglob("*.json")} == records
    assert set(_tree_state(target.root)) == paths
    assert [i["names"] for i in json.loads(target.run("images", "--json").stdout)] == [
        ["localhost/base:v1"]]


def test_a_store_this_project_creates_is_one_buildah_takes(tmp_path: Path,
                                                           policy: Path) -> None:
    """A fresh store (nothing there yet) gets only what the write needs, and buildah
    then works in it as in its own."""
    source = Buildah(tmp_path / "source")
    _two_layer_image(source, tmp_path, "localhost/app")
    root, run = tmp_path / "fresh", tmp_path / "fresh-run"
    done = _harness("copy", "--quiet", "--policy", str(policy),
                    f"containers-storage:{source.store_spec}localhost/app",
                    f"containers-storage:[vfs@{root}+{run}]localhost/app:v1")
    assert done.returncode == 0, done.stderr
    assert not run.exists()
    store = ContainersStore(conf.StoreOptions("vfs", root, run))
    assert [i.names for i in store.images()] == [("localhost/app:v1",)]
    assert oct(root.stat().st_mode & 0o777) == "0o700"
    fresh = Buildah(tmp_path / "fresh-tool")
    fresh.root, fresh.runroot = root, run
    ctr = fresh.from_image("localhost/app:v1")
    fresh.commit(ctr, "localhost/again", "--quiet")
    assert len(json.loads(fresh.run("images", "--json").stdout)) == 2
    assert (root / "vfs/dir").is_dir()


@pytest.mark.requires_peer("podman")
def test_podman_lists_what_was_written(driver: str, tmp_path: Path, policy: Path) -> None:
    source = Buildah(tmp_path / "source", driver=driver)
    _two_layer_image(source, tmp_path, "localhost/app")
    run_root = Path(tempfile.mkdtemp(prefix="rr", dir="/tmp"))  # podman wants < 50 chars
    try:
        done = _harness("copy", "--quiet", "--policy", str(policy),
                        f"containers-storage:{source.store_spec}localhost/app",
                        f"containers-storage:[{driver}@{tmp_path / 'p'}+{run_root}]"
                        "localhost/for-podman:v1")
        assert done.returncode == 0, done.stderr
        podman = subprocess.run(
            ["podman", "--storage-driver", driver, "--root", str(tmp_path / "p"),
             "--runroot", str(run_root), "images", "--no-trunc", "--format",
             "{{.ID}} {{.Repository}}:{{.Tag}} {{.Digest}}"],
            capture_output=True, text=True, check=False)
        assert podman.returncode == 0, podman.stderr
        info = json.loads(source.run("inspect", "--type", "image", "localhost/app").stdout)
        assert podman.stdout.split() == [f"sha256:{info['FromImageID']}",
                                         "localhost/for-podman:v1", info["FromImageDigest"]]
    finally:
        shutil.rmtree(run_root, ignore_errors=True)


def test_a_commit_into_containers_storage_writes_only_the_new_layer(
        driver: str, tmp_path: Path, policy: Path) -> None:
    """As buildah's commit into its store: the base layers are found in the store and
    kept as they are; only the new layer, the config and the manifest are written."""
    buildah = Buildah(tmp_path / "buildah", driver=driver)
    _two_layer_image(buildah, tmp_path, "localhost/app")
    spec = buildah.store_spec
    layers_json = buildah.root / f"{driver}-layers/layers.json"
    before = {x["id"]: x for x in json.loads(layers_json.read_text())}
    layer_dirs = [buildah.root / driver / ("dir" if driver == "vfs" else "") / i
                  for i in before]
    files_before = [_tree_state(d) for d in layer_dirs]
    ours = ["--root", str(tmp_path / "harness")]
    made = _harness(*ours, "from", "--signature-policy", str(policy),
                    f"containers-storage:{spec}localhost/app")
    assert made.returncode == 0, made.stderr
    ctr = made.stdout.strip().splitlines()[-1]
    (tmp_path / "added").write_text("added by this project\n")
    assert _harness(*ours, "add", ctr, str(tmp_path / "added"), "/srv/").returncode == 0
    done = _harness(*ours, "commit", "--signature-policy", str(policy), ctr,
                    f"containers-storage:{spec}localhost/derived:v1")
    assert done.returncode == 0, done.stderr
    after = {x["id"]: x for x in json.loads(layers_json.read_text())}
    new = [after[i] for i in after if i not in before]
    assert {i: after[i] for i in before} == before and len(new) == 1
    base = json.loads(buildah.run("inspect", "--type", "image", "localhost/app").stdout)
    derived = json.loads(buildah.run("inspect", "--type", "image",
                                     "localhost/derived:v1").stdout)
    base_ids = json.loads(base["Config"])["rootfs"]["diff_ids"]
    derived_ids = json.loads(derived["Config"])["rootfs"]["diff_ids"]
    assert derived_ids[:-1] == base_ids and new[0]["diff-digest"] == derived_ids[-1]
    assert new[0]["parent"] == next(x["id"] for x in before.values()
                                    if x.get("diff-digest") == base_ids[-1])
    assert [_tree_state(d) for d in layer_dirs] == files_before
    ctr = buildah.from_image("localhost/derived:v1")
    mount = Path(buildah.run("mount", ctr).stdout.strip())
    assert (mount / "srv/added").read_text() == "added by this project\n"
    assert (mount / "etc/app.conf").read_text() == "port=8080\n"
    buildah.run("umount", ctr)
    buildah.run("rm", "--all")


def test_writing_into_a_locked_store_is_one_error_line(tmp_path: Path, policy: Path) -> None:
    source = Buildah(tmp_path / "source")
    _two_layer_image(source, tmp_path, "localhost/app")
    target = Buildah(tmp_path / "target")
    assert _harness("copy", "--quiet", "--policy", str(policy),
                    f"containers-storage:{source.store_spec}localhost/app-base",
                    f"containers-storage:{target.store_spec}localhost/base").returncode == 0
    lock = target.root / "vfs-layers/layers.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys; f=open(sys.argv[1],'r'); "
         "fcntl.lockf(f, fcntl.LOCK_SH); print('held', flush=True); sys.stdin.read()",
         str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        records = {p: p.read_bytes() for p in target.root.rglob("*.json")}
        paths = set(_tree_state(target.root))
        done = _harness("copy", "--quiet", "--policy", str(policy),
                        f"containers-storage:{source.store_spec}localhost/app",
                        f"containers-storage:{target.store_spec}localhost/app",
                        env={"OCI_HARNESS_LOCK_WAIT": "0.2"})
        assert done.returncode != 0
        assert done.stderr.strip().splitlines() == [
            f"Error: containers-storage: {lock} is locked by process {holder.pid}; waited "
            "0.2 s (set OCI_HARNESS_LOCK_WAIT to wait longer)"]
        assert {p: p.read_bytes() for p in target.root.rglob("*.json")} == records
        assert set(_tree_state(target.root)) == paths
    finally:
        holder.communicate("")


@pytest.mark.parametrize("driver", ["btrfs", "zfs", "devicemapper"])
def test_writing_with_an_unsupported_driver_is_one_error_line(tmp_path: Path, policy: Path,
                                                            driver: str) -> None:
    source = Buildah(tmp_path / "source")
    _two_layer_image(source, tmp_path, "localhost/app")
    done = _harness("copy", "--quiet", "--policy", str(policy),
                    f"containers-storage:{source.store_spec}localhost/app",
                    f"containers-storage:[{driver}@{tmp_path}/r+{tmp_path}/rr]localhost/app")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"Error: containers-storage: storage driver {driver!r} is not supported here "
        "(supported: overlay, vfs)"]
    assert not (tmp_path / "r").exists()


def _layer_tree(root: Path) -> dict[str, tuple[int, int, int, int, str]]:
    """Every entry under a layer directory: mode, owner, device number, mtime and content
    or target. Two mtimes record only when the layer was written, by either tool: the top
    directory's and an overlay whiteout device's (containers/storage sets no time on it)."""
    tree = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        rel = str(path.relative_to(root))
        content = (str(path.readlink()) if path.is_symlink() else
                   hashlib.sha256(path.read_bytes()).hexdigest()
                   if path.is_file() else "")
        written_now = rel == "." or (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0)
        tree[rel] = (st.st_mode, st.st_uid * 65536 + st.st_gid, st.st_rdev,
                     0 if written_now else st.st_mtime_ns // 10**9, content)
    return tree


def test_written_layer_directories_are_the_ones_buildah_makes(driver: str, tmp_path: Path,
                                                              policy: Path) -> None:
    """The same layers stored by buildah and by this project: the same directories,
    modes, owners, whiteout devices and contents; overlay's lower chains the parents'
    links."""
    source = Buildah(tmp_path / "source", driver=driver)
    _two_layer_image(source, tmp_path, "localhost/app")
    target = Buildah(tmp_path / "target", driver=driver)
    done = _harness("copy", "--quiet", "--policy", str(policy),
                    f"containers-storage:{source.store_spec}localhost/app",
                    f"containers-storage:{target.store_spec}localhost/app")
    assert done.returncode == 0, done.stderr
    written = json.loads((target.root / f"{driver}-layers/layers.json").read_text())
    for layer in written:
        if driver == "vfs":
            theirs, ours = (b.root / "vfs/dir" / layer["id"] for b in (source, target))
        else:
            theirs, ours = (b.root / "overlay" / layer["id"] / "diff" for b in (source, target))
            home = target.root / "overlay"
            link = (home / layer["id"] / "link").read_text()
            assert (home / "l" / link).resolve() == ours.resolve()
            lower = home / layer["id"] / "lower"
            if "parent" in layer:
                parent_link = (home / layer["parent"] / "link").read_text()
                assert lower.read_text().split(":")[0] == f"l/{parent_link}"
            else:
                assert not lower.exists()
        assert _layer_tree(ours) == _layer_tree(theirs), layer["id"]
