"""``docker-daemon:`` against the running Docker engine, skopeo's docker-daemon: as the
reference for what is read back."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.model.transportref import parse_transport_reference
from harness.peers.detect import require_peer
from harness.util.errors import HarnessError

pytestmark = pytest.mark.requires_peer("docker")


@pytest.fixture
def tagged(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A fresh name in the engine (removed afterwards) and a policy accepting anything."""
    require_peer("docker")
    import docker  # noqa: PLC0415

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    name = f"localhost/oci-harness-cli-test:{uuid.uuid4().hex[:12]}"
    yield name, policy
    client = docker.from_env()
    try:
        client.images.remove(name, force=True)
    except docker.errors.ImageNotFound:
        pass
    finally:
        client.close()


def _image(tmp_path: Path) -> str:
    root = str(tmp_path / "root")
    (tmp_path / "hello.txt").write_text("hello from oci-harness\n")
    assert main(["--root", root, "from", "-q", "scratch"]) == 0
    assert main(["--root", root, "add", "working-container", str(tmp_path / "hello.txt"),
                 "/hello.txt"]) == 0
    assert main(["--root", root, "config", "working-container", "--label", "k=v"]) == 0
    assert main(["--root", root, "commit", "-q", "--identity-label=false", "-D=false",
                 "working-container", f"oci:{tmp_path}/src:v1"]) == 0
    return f"oci:{tmp_path}/src:v1"


def test_load_then_save_reads_what_skopeo_reads(tagged: tuple[str, Path], tmp_path: Path) -> None:
    import docker  # noqa: PLC0415

    name, policy = tagged
    src = _image(tmp_path)
    assert main(["copy", "-q", "--policy", str(policy), src, f"docker-daemon:{name}"]) == 0
    client = docker.from_env()
    try:
        loaded = client.images.get(name)
        assert loaded.labels == {"k": "v"}
        image_id = loaded.id
    finally:
        client.close()
    for ref in (name, image_id):  # by name, and by ID (a source only)
        ours, theirs = tmp_path / f"ours-{ref[:6]}", tmp_path / f"theirs-{ref[:6]}"
        assert main(["copy", "-q", "--policy", str(policy), f"docker-daemon:{ref}",
                     f"dir:{ours}"]) == 0
        done = subprocess.run(["skopeo", "--policy", str(policy), "copy", "-q",
                               f"docker-daemon:{ref}", f"dir:{theirs}"], capture_output=True,
                              text=True, check=False, timeout=300)
        assert done.returncode == 0, done.stderr
        mine = {p.name: p.read_bytes() for p in ours.iterdir()}
        skopeos = {p.name: p.read_bytes() for p in theirs.iterdir()}
        # containers/image's docker-archive source calls every layer tar.gzip, even the
        # uncompressed ones docker save writes; ours says what they are (tar). Layers,
        # config and every other manifest byte are the same.
        assert mine.pop("manifest.json").replace(b'diff.tar"', b'diff.tar.gzip"') == \
            skopeos.pop("manifest.json")
        assert mine == skopeos


def test_a_missing_image_is_one_line(capsys: pytest.CaptureFixture[str],
                                     tmp_path: Path) -> None:
    require_peer("docker")
    assert main(["inspect", "docker-daemon:localhost/oci-harness-no-such-image:v0"]) == 125
    assert capsys.readouterr().err == ("Error: docker-daemon:localhost/oci-harness-no-such-"
                                       "image:v0: no such image in the Docker engine\n")


def test_an_unreachable_engine_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "--daemon-host", "unix:///nonexistent/docker.sock",
                 "docker-daemon:busybox:latest"]) == 125
    err = capsys.readouterr().err
    assert err.startswith("Error: docker-daemon: cannot reach the Docker engine "
                          "(unix:///nonexistent/docker.sock)") and err.count("\n") == 1


def test_references_parse_as_containers_image_does() -> None:
    assert str(parse_transport_reference("docker-daemon:busybox")) == \
        "docker-daemon:docker.io/library/busybox:latest"
    digest = "sha256:" + "a" * 64
    assert parse_transport_reference(f"docker-daemon:{digest}").image_id == digest
    with pytest.raises(HarnessError, match="both a tag and a digest"):
        parse_transport_reference(f"docker-daemon:busybox:1@{digest}")
