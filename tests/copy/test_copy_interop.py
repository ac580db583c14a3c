"""The local transports against the real tools: skopeo and umoci read what we write, we
read what they write, and the Docker engine loads and runs our docker-archive."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.copy.engine import CopyOptions, copy_image
from harness.pytest_plugin.images import BuiltImage, plain_layers
from harness.transports.alltransports import parse_image_name

LOCAL = ["oci:{d}/oci:v1", "oci-archive:{d}/oci.tar:v1", "dir:{d}/dir",
         "docker-archive:{d}/docker.tar:localhost/interop:v1"]


def _run(*args: str) -> bytes:
    done = subprocess.run(list(args), capture_output=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def _copy(src: str, dest: str, policy: Path) -> None:
    copy_image(parse_image_name(dest), parse_image_name(src),
               CopyOptions(signature_policy_path=policy))






@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("pattern", LOCAL)
def test_skopeo_reads_what_we_write(oci_image: tuple[str, BuiltImage], tmp_path: Path,
                                    policy: Path, pattern: str) -> None:
    src, built = oci_image
    ours = pattern.format(d=tmp_path)
    _copy(src, ours, policy)
    _run("skopeo", "inspect", ours)
    _run("skopeo", "copy", "--policy", str(policy), ours, f"dir:{tmp_path}/skopeo")
    assert plain_layers(parse_image_name(f"dir:{tmp_path}/skopeo")) == built.layer_tars()


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("pattern", LOCAL)
def test_we_read_what_skopeo_writes(oci_image: tuple[str, BuiltImage], tmp_path: Path,
                                    policy: Path, pattern: str) -> None:
    src, built = oci_image
    theirs = pattern.format(d=tmp_path)
    _run("skopeo", "copy", "--policy", str(policy), src, theirs)
    _copy(theirs, f"oci:{tmp_path}/ours:v1", policy)
    assert plain_layers(parse_image_name(f"oci:{tmp_path}/ours:v1")) == built.layer_tars()


@pytest.mark.requires_peer("umoci")
def test_umoci_unpacks_what_we_write(oci_image: tuple[str, BuiltImage], tmp_path: Path,
                                     policy: Path) -> None:
    src, built = oci_image
    _copy(src, f"docker-archive:{tmp_path}/a.tar", policy)
    _copy(f"docker-archive:{tmp_path}/a.tar", f"oci:{tmp_path}/layout:mine", policy)
    _run("umoci", "unpack", "--rootless", "--image", f"{tmp_path}/layout:mine",
         str(tmp_path / "bundle"))
    rootfs = tmp_path / "bundle" / "rootfs"
    assert (rootfs / "etc" / "motd").read_bytes() == b"hello from layer 2\n"
    with tarfile.open(fileobj=io.BytesIO(built.layer_tars()[0])) as tar:
        program = tar.extractfile("bin/busybox")
        assert program is not None
        assert (rootfs / "bin" / "busybox").read_bytes() == program.read()
    assert (rootfs / "bin" / "sh").readlink() == Path("busybox")


@pytest.mark.requires_peer("umoci")
def test_we_read_what_umoci_writes(tmp_path: Path, policy: Path) -> None:
    layout, bundle = tmp_path / "umoci", tmp_path / "bundle"
    _run("umoci", "init", "--layout", str(layout))
    _run("umoci", "new", "--image", f"{layout}:t")
    _run("umoci", "unpack", "--rootless", "--image", f"{layout}:t", str(bundle))
    (bundle / "rootfs" / "etc").mkdir()
    (bundle / "rootfs" / "etc" / "file.txt").write_bytes(b"written by umoci\n")
    _run("umoci", "repack", "--image", f"{layout}:t", str(bundle))
    _copy(f"oci:{layout}:t", f"dir:{tmp_path}/d", policy)
    [layer] = plain_layers(parse_image_name(f"dir:{tmp_path}/d"))
    with tarfile.open(fileobj=io.BytesIO(layer)) as tar:
        member = tar.extractfile("etc/file.txt")
        assert member is not None
        assert member.read() == b"written by umoci\n"


@pytest.mark.requires_peer("docker", "busybox")
def test_docker_loads_and_runs_our_docker_archive_and_we_read_docker_save(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> None:
    src, built = oci_image
    name = f"localhost/harness-load-{tmp_path.name.lower()}:v1"
    _copy(src, f"docker-archive:{tmp_path}/a.tar:{name}", policy)
    try:
        assert name.encode() in _run("docker", "load", "-i", str(tmp_path / "a.tar"))
        assert _run("docker", "run", "--rm", "--network", "host", name) == \
            b"hello from layer 2\n"
        _run("docker", "save", "-o", str(tmp_path / "saved.tar"), name)
        _copy(f"docker-archive:{tmp_path}/saved.tar", f"oci:{tmp_path}/saved:v1", policy)
        assert plain_layers(parse_image_name(f"oci:{tmp_path}/saved:v1")) == \
            built.layer_tars()
    finally:
        subprocess.run(["docker", "rmi", "-f", name], capture_output=True, check=False)
