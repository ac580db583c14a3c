"""``containers-storage:`` against stores buildah really wrote (vfs and overlay).

Round trips are judged by digests: an image buildah committed, copied by this project to
a real registry, must arrive with the same manifest, config and layer digests as
``buildah push`` sends (both uncompressed: buildah's gzip is Go's, this project's is
isal, so compressed bytes differ by design; diffIDs and the config are compared then).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.peers.clients import Buildah, Skopeo
from harness.peers.launchers import RunningRegistry

pytestmark = pytest.mark.requires_peer("buildah")


def _tree_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under *root* with its mode, mtime and content hash (files)."""
    state = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        digest = ""
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        state[str(path.relative_to(root))] = (st.st_mode, st.st_mtime_ns, digest)
    return state


def _harness(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=False)


def _two_layer_image(buildah: Buildah, tmp: Path, name: str) -> None:
    """``name`` with two layers: a tree with owners, modes, a symlink and a hard link,
    then a second layer that changes and deletes files (a whiteout)."""
    src = tmp / "src"
    (src / "etc").mkdir(parents=True)
    (src / "etc/app.conf").write_text("port=80\n")
    (src / "bin").mkdir()
    (src / "bin/run").write_bytes(b"#!/bin/sh\necho hi\n" + bytes(70000))
    (src / "bin/run").chmod(0o755)
    (src / "gone").write_text("deleted later\n")
    ctr = buildah.from_image("scratch")
    buildah.copy(ctr, src, "/")
    buildah.commit(ctr, f"{name}-base", "--quiet")
    top = buildah.from_image(f"{name}-base")
    mount = Path(buildah.run("mount", top).stdout.strip())
    (mount / "etc/app.conf").write_text("port=8080\n")
    (mount / "gone").unlink()
    (mount / "bin/alias").symlink_to("run")
    os.link(mount / "bin/run", mount / "bin/hard")
    buildah.run("umount", top)
    buildah.config_set(top, "--cmd", "/bin/run", "--env", "A=1")
    buildah.commit(top, name, "--quiet")


@pytest.fixture(params=["vfs", "overlay"])
def buildah(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Buildah]:
    tool = Buildah(tmp_path / "buildah", driver=request.param)
    yield tool
    tool.run("rm", "--all", check=False)


def _manifest(registry: RunningRegistry, repo: str, tag: str) -> tuple[str, bytes]:
    response = requests.get(f"{registry.url}/v2/{repo}/manifests/{tag}", timeout=30, headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json"})
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"], response.content


def _uncompressed_layer_digests(registry: RunningRegistry, repo: str,
                                manifest: bytes) -> list[str]:
    digests = []
    for layer in json.loads(manifest)["layers"]:
        blob = requests.get(f"{registry.url}/v2/{repo}/blobs/{layer['digest']}", timeout=30)
        blob.raise_for_status()
        assert hashlib.sha256(blob.content).hexdigest() == layer["digest"][7:]
        data = gzip.decompress(blob.content) if layer["mediaType"].endswith("gzip") \
            else blob.content
        digests.append("sha256:" + hashlib.sha256(data).hexdigest())
    return digests


def _push_both(buildah: Buildah, registry: RunningRegistry, name: str, repo: str,
               *ours: str) -> tuple[bytes, bytes]:
    """``buildah push`` to REPO:buildah and this project's copy to REPO:ours; both
    manifests as the registry serves them. The copy must not change the store at all."""
    buildah.registry = registry
    buildah.push(name, f"docker://{registry.host}/{repo}:buildah")
    before = _tree_state(buildah.root)
    done = _harness("copy", "--quiet", "--policy", str(buildah.config.policy),
                    "--dest-tls-verify=false", *ours,
                    f"containers-storage:{buildah.store_spec}{name}",
                    f"docker://{registry.host}/{repo}:ours")
    assert done.returncode == 0, done.stderr
    assert _tree_state(buildah.root) == before
    return _manifest(registry, repo, "buildah")[1], _manifest(registry, repo, "ours")[1]


def test_an_uncompressed_copy_pushes_the_stored_image_unchanged(
        buildah: Buildah, tmp_path: Path, distribution: RunningRegistry) -> None:
    """The registry gets the manifest buildah stored, byte for byte, and layers whose
    digests are the diffIDs of the layers ``buildah push`` sends (it always compresses,
    with Go's gzip)."""
    _two_layer_image(buildah, tmp_path, "localhost/app")
    info = json.loads(buildah.run("inspect", "--type", "image", "localhost/app").stdout)
    repo = f"cstore-{buildah.driver}"
    theirs, ours = _push_both(buildah, distribution, "localhost/app", repo,
                              "--dest-compress-format", "none")
    assert ours == info["Manifest"].encode()
    assert "sha256:" + hashlib.sha256(ours).hexdigest() == info["FromImageDigest"]
    assert json.loads(ours)["config"] == json.loads(theirs)["config"]
    assert _uncompressed_layer_digests(distribution, repo, ours) \
        == _uncompressed_layer_digests(distribution, repo, theirs) \
        == json.loads(info["Config"])["rootfs"]["diff_ids"]


def test_a_gzip_copy_keeps_every_diff_id(buildah: Buildah, tmp_path: Path,
                                         distribution: RunningRegistry) -> None:
    """Compressed, the layer digests differ (isal against Go's gzip) but the config,
    hence every diffID and the image ID, and the media types are buildah's."""
    _two_layer_image(buildah, tmp_path, "localhost/zipped")
    repo = f"cstore-gz-{buildah.driver}"
    theirs, ours = _push_both(buildah, distribution, "localhost/zipped", repo)
    assert json.loads(ours)["config"] == json.loads(theirs)["config"]
    assert [x["mediaType"] for x in json.loads(ours)["layers"]] \
        == [x["mediaType"] for x in json.loads(theirs)["layers"]]
    assert _uncompressed_layer_digests(distribution, repo, ours) \
        == _uncompressed_layer_digests(distribution, repo, theirs)


def test_an_image_is_found_by_id_prefix_and_by_digest(buildah: Buildah, tmp_path: Path,
                                                      policy: Path) -> None:
    _two_layer_image(buildah, tmp_path, "localhost/found")
    info = json.loads(buildah.run("inspect", "--type", "image", "localhost/found").stdout)
    image_id, digest = info["FromImageID"], info["FromImageDigest"]
    for ref in (image_id, image_id[:12], f"localhost/found@{digest}"):
        done = _harness("copy", "--quiet", "--policy", str(policy),
                        "--dest-oci-accept-uncompressed-layers",
                        f"containers-storage:{buildah.store_spec}{ref}",
                        f"oci:{tmp_path / 'out'}:x")
        assert done.returncode == 0, (ref, done.stderr)
        index = json.loads((tmp_path / "out/index.json").read_text())
        assert index["manifests"][-1]["digest"] == digest


def test_reading_a_missing_store_creates_nothing(tmp_path: Path, policy: Path) -> None:
    root = tmp_path / "none"
    done = _harness("copy", "--policy", str(policy),
                    f"containers-storage:[vfs@{root}+{tmp_path / 'run'}]localhost/x",
                    f"oci:{tmp_path / 'out'}:x")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"Error: containers-storage: no image localhost/x:latest in the store "
        f"[vfs@{root}+{tmp_path / 'run'}]"]
    assert not root.exists() and not (tmp_path / "run").exists()


def _copy_error(buildah: Buildah, tmp_path: Path, policy: Path, name: str,
                env: dict[str, str] | None = None) -> str:
    done = _harness("copy", "--policy", str(policy),
                    f"containers-storage:{buildah.store_spec}{name}",
                    f"oci:{tmp_path / 'out'}:x", env=env)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    return lines[0]


def _top_layer(buildah: Buildah, name: str) -> str:
    info = json.loads(buildah.run("inspect", "--type", "image", name).stdout)
    layers = json.loads((buildah.root / f"{buildah.driver}-layers/layers.json").read_text())
    diff_ids = json.loads(info["Config"])["rootfs"]["diff_ids"]
    return next(x["id"] for x in layers if x.get("diff-digest") == diff_ids[-1])


def test_a_layer_without_tar_split_is_one_error_line(buildah: Buildah, tmp_path: Path,
                                                     policy: Path) -> None:
    _two_layer_image(buildah, tmp_path, "localhost/broken")
    layer = _top_layer(buildah, "localhost/broken")
    (buildah.root / f"{buildah.driver}-layers/{layer}.tar-split.gz").unlink()
    before = _tree_state(buildah.root)
    line = _copy_error(buildah, tmp_path, policy, "localhost/broken")
    assert "tar-split.gz is missing" in line
    assert _tree_state(buildah.root) == before


def test_a_changed_layer_file_is_one_error_line(buildah: Buildah, tmp_path: Path,
                                                policy: Path) -> None:
    _two_layer_image(buildah, tmp_path, "localhost/changed")
    layer = _top_layer(buildah, "localhost/changed")
    files = (buildah.root / "vfs/dir" / layer if buildah.driver == "vfs"
             else buildah.root / "overlay" / layer / "diff")
    (files / "etc/app.conf").write_text("port=9090\n")  # same size, other bytes
    line = _copy_error(buildah, tmp_path, policy, "localhost/changed")
    assert "'etc/app.conf'" in line and "does not match its tar-split metadata" in line


def test_a_locked_store_is_one_error_line(buildah: Buildah, tmp_path: Path,
                                          policy: Path) -> None:
    _two_layer_image(buildah, tmp_path, "localhost/locked")
    lock = buildah.root / f"{buildah.driver}-images/images.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,sys; f=open(sys.argv[1],'r+'); "
         "fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
         str(lock)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        line = _copy_error(buildah, tmp_path, policy, "localhost/locked",
                           env={"OCI_HARNESS_LOCK_WAIT": "0.2"})
        assert f"{lock} is locked by process {holder.pid}" in line
    finally:
        holder.communicate("")


@pytest.mark.parametrize("driver", ["btrfs", "zfs", "devicemapper"])
def test_an_unsupported_driver_is_one_error_line(tmp_path: Path, policy: Path,
                                                 driver: str) -> None:
    done = _harness("copy", "--policy", str(policy),
                    f"containers-storage:[{driver}@{tmp_path}/r+{tmp_path}/rr]localhost/x",
                    f"oci:{tmp_path / 'out'}:x")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        f"Error: containers-storage: storage driver {driver!r} is not supported here "
        "(supported: overlay, vfs)"]
    assert not (tmp_path / "r").exists()


def test_the_two_stores_example_of_the_docs_runs(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "store.md"
    (block,) = re.findall(r"```sh\n(.*?)```", doc.read_text(), flags=re.DOTALL)
    script = "set -euo pipefail\n" + block.replace("$ ", "").replace(
        "python -m", f"{sys.executable} -m")
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "localhost/hello:round-trip" in done.stdout.splitlines()
    image_id = done.stdout.strip().splitlines()[-1]
    index = json.loads((tmp_path / "from-buildah/index.json").read_text())
    config = json.loads((tmp_path / "from-buildah/blobs/sha256" /
                         index["manifests"][0]["digest"][7:]).read_text())["config"]
    assert len(image_id) >= 12 and config["digest"].startswith(f"sha256:{image_id}")


@pytest.mark.requires_peer("skopeo")
def test_an_image_pulled_with_compressed_layers_is_copied_as_skopeo_copies_it(
        tmp_path: Path, distribution: RunningRegistry, policy: Path) -> None:
    """The store keeps only the uncompressed layers of a pulled gzip image; its manifest
    is presented with them (containers/image's LayerInfosForCopy), and a copy to a
    registry then carries skopeo's config, media types and uncompressed layers."""
    maker = Buildah(tmp_path / "maker")
    _two_layer_image(maker, tmp_path, "localhost/app")
    maker.push("localhost/app", f"oci:{tmp_path / 'gz'}:app")  # gzip layers
    puller = Buildah(tmp_path / "puller", registry=distribution)
    puller.pull(f"oci:{tmp_path / 'gz'}:app")
    name = f"localhost{tmp_path / 'gz'}:latest"
    src = f"containers-storage:{puller.store_spec}{name}"
    skopeo = Skopeo(tmp_path / "skopeo", registry=distribution)
    skopeo.copy(src, f"docker://{distribution.host}/pulled:skopeo")
    done = _harness("copy", "--quiet", "--policy", str(policy), "--dest-tls-verify=false", src,
                    f"docker://{distribution.host}/pulled:ours")
    assert done.returncode == 0, done.stderr
    theirs, ours = (json.loads(_manifest(distribution, "pulled", t)[1])
                    for t in ("skopeo", "ours"))
    assert ours["config"] == theirs["config"]
    assert [x["mediaType"] for x in ours["layers"]] == [x["mediaType"] for x in theirs["layers"]]
    assert _uncompressed_layer_digests(distribution, "pulled", json.dumps(ours).encode()) \
        == _uncompressed_layer_digests(distribution, "pulled", json.dumps(theirs).encode())
    flat = _harness("copy", "--quiet", "--policy", str(policy), "--dest-compress-format",
                    "none", src, f"oci:{tmp_path / 'flat'}:x")
    assert flat.returncode == 0, flat.stderr
    index = json.loads((tmp_path / "flat/index.json").read_text())
    manifest = json.loads((tmp_path / "flat/blobs/sha256" /
                           index["manifests"][0]["digest"][7:]).read_text())
    config = json.loads((tmp_path / "flat/blobs/sha256" /
                         manifest["config"]["digest"][7:]).read_text())
    assert [(x["mediaType"], x["digest"]) for x in manifest["layers"]] == [
        ("application/vnd.oci.image.layer.v1.tar", d) for d in config["rootfs"]["diff_ids"]]


def test_the_store_comes_from_containers_storage_conf(buildah: Buildah, tmp_path: Path,
                                                      policy: Path) -> None:
    """No [driver@root] in the reference: the driver, root and run root are the ones
    $CONTAINERS_STORAGE_CONF names, as for buildah itself."""
    _two_layer_image(buildah, tmp_path, "localhost/conf")
    done = _harness("copy", "--quiet", "--policy", str(policy),
                    "--dest-oci-accept-uncompressed-layers", "containers-storage:localhost/conf",
                    f"oci:{tmp_path / 'out'}:x",
                    env={"CONTAINERS_STORAGE_CONF": str(buildah.storage_conf)})
    assert done.returncode == 0, done.stderr
    info = json.loads(buildah.run("inspect", "--type", "image", "localhost/conf").stdout)
    index = json.loads((tmp_path / "out/index.json").read_text())
    assert index["manifests"][0]["digest"] == info["FromImageDigest"]
