"""skopeo's and buildah's flags with their meaning: global flags, copy, push and commit."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.model import mediatype
from harness.peers.detect import require_peer
from harness.pytest_plugin.images import read_image
from harness.transports.alltransports import parse_image_name

ACCEPT = {"default": [{"type": "insecureAcceptAnything"}]}


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(ACCEPT))
    return path


@pytest.fixture
def root(tmp_path: Path, policy: Path) -> str:
    """A store with a working container holding one file, FOO and BAR in its environment."""
    root = str(tmp_path / "root")
    (tmp_path / "hello.txt").write_text("hello\n")
    assert main(["--root", root, "from", "-q", "scratch"]) == 0
    assert main(["--root", root, "add", "working-container", str(tmp_path / "hello.txt"),
                 "/hello.txt"]) == 0
    assert main(["--root", root, "config", "working-container", "--env", "FOO=1",
                 "--env", "BAR=2"]) == 0
    return root


def _manifest(layout: Path) -> dict[str, object]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    return json.loads((layout / "blobs" / "sha256" / digest).read_bytes())  # type: ignore[no-any-return]


def _config(layout: Path) -> dict[str, object]:
    digest = _manifest(layout)["config"]["digest"].split(":")[1]  # type: ignore[index]
    return json.loads((layout / "blobs" / "sha256" / digest).read_bytes())  # type: ignore[no-any-return]


def _layer_types(layout: Path) -> list[str]:
    return [layer["mediaType"] for layer in _manifest(layout)["layers"]]  # type: ignore[attr-defined]


def test_commit_unsetenv_rm_and_compression(root: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", root, "commit", "-q", "--unsetenv", "FOO", "working-container",
                 f"oci:{tmp_path}/plain:v1"]) == 0
    env = _config(tmp_path / "plain")["config"]["Env"]  # type: ignore[index]
    assert not any(e.startswith("FOO=") for e in env) and "BAR=2" in env
    assert _layer_types(tmp_path / "plain") == [mediatype.OCI_LAYER]  # -D: buildah's default
    assert main(["--root", root, "commit", "-q", "-D=false", "working-container",
                 f"oci:{tmp_path}/gz:v1"]) == 0
    assert _layer_types(tmp_path / "gz") == [mediatype.OCI_LAYER_GZIP]
    assert main(["--root", root, "commit", "-q", "--compression-format", "zstd",
                 "working-container", f"oci:{tmp_path}/zst:v1"]) == 0
    assert _layer_types(tmp_path / "zst") == [mediatype.OCI_LAYER_ZSTD]
    # --unsetenv applied to the image only; --rm removes the container after writing.
    assert main(["--root", root, "commit", "-q", "--rm", "working-container",
                 f"oci:{tmp_path}/last:v1"]) == 0
    assert any(e.startswith("FOO=") for e in _config(tmp_path / "last")["config"]["Env"])  # type: ignore[index]
    capsys.readouterr()
    assert main(["--root", root, "containers"]) == 0
    assert "working-container" not in capsys.readouterr().out


def test_commit_identity_label_and_omit_history(root: str, tmp_path: Path) -> None:
    """buildah's defaults: the identity label in the image (not in the container), one
    history entry; --identity-label=false and --omit-history take them out."""
    assert main(["--root", root, "commit", "-q", "working-container",
                 f"oci:{tmp_path}/default:v1"]) == 0
    config = _config(tmp_path / "default")
    assert config["config"]["Labels"] == {"io.buildah.version": "1.28.2"}  # type: ignore[index]
    assert len(config["history"]) == 1  # type: ignore[arg-type]
    assert main(["--root", root, "commit", "-q", "--identity-label=false", "--omit-history",
                 "working-container", f"oci:{tmp_path}/bare:v1"]) == 0
    config = _config(tmp_path / "bare")
    assert "Labels" not in config["config"] and "history" not in config  # type: ignore[operator]
    assert len(config["rootfs"]["diff_ids"]) == 1  # type: ignore[index]


def test_commit_squash_writes_one_layer_of_the_whole_tree(root: str, tmp_path: Path) -> None:
    assert main(["--root", root, "commit", "-q", "working-container", "base:v1"]) == 0
    assert main(["--root", root, "from", "-q", "--name", "derived", "base:v1"]) == 0
    (tmp_path / "more.txt").write_text("more\n")
    assert main(["--root", root, "add", "derived", str(tmp_path / "more.txt"), "/more.txt"]) == 0
    assert main(["--root", root, "commit", "-q", "--squash", "derived",
                 f"oci:{tmp_path}/squashed:v1"]) == 0
    layout = tmp_path / "squashed"
    [layer] = _manifest(layout)["layers"]  # type: ignore[misc]
    config = _config(layout)
    assert len(config["history"]) == 1 and len(config["rootfs"]["diff_ids"]) == 1  # type: ignore[arg-type,index]
    with tarfile.open(layout / "blobs/sha256" / layer["digest"].split(":")[1]) as tar:
        assert sorted(tar.getnames()) == ["hello.txt", "more.txt"]


def test_push_disable_compression(root: str, tmp_path: Path, policy: Path) -> None:
    """As buildah 1.28's push: -D leaves dir: layers uncompressed (even stored gzip, as a
    store serves them), an OCI layout gets gzip anyway (tests/builder/test_push_compression.py
    compares every destination with buildah)."""
    assert main(["--root", root, "commit", "-q", "-D=false", "working-container", "app:v1"]) == 0
    push = ["--root", root, "push", "-q", "--signature-policy", str(policy), "-D", "app:v1"]
    assert main([*push, f"dir:{tmp_path}/dir"]) == 0
    manifest = json.loads((tmp_path / "dir/manifest.json").read_text())
    assert [layer["mediaType"] for layer in manifest["layers"]] == [mediatype.OCI_LAYER]
    assert main([*push, f"oci:{tmp_path}/pushed:v1"]) == 0
    assert _layer_types(tmp_path / "pushed") == [mediatype.OCI_LAYER_GZIP]


def test_global_policy_and_insecure_policy(root: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--root", root, "commit", "-q", "working-container",
                 f"oci:{tmp_path}/src:v1"]) == 0
    reject = tmp_path / "reject.json"
    reject.write_text(json.dumps({"default": [{"type": "reject"}]}))
    argv = ["copy", "-q", f"oci:{tmp_path}/src:v1", f"oci:{tmp_path}/dst:v1"]
    assert main(["--policy", str(reject), *argv]) == 125
    assert "reject" in capsys.readouterr().err
    assert main(["--policy", str(reject), "--insecure-policy", *argv]) == 0


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("flags", [
    [], ["--dest-compress-format", "zstd"], ["--dest-compress"], ["--dest-decompress"],
    ["--format", "v2s2"], ["--remove-signatures"]])
@pytest.mark.parametrize("compress", ["-D", "-D=false"])
def test_preserve_digests_copies_as_it_is_as_skopeo(
        root: str, tmp_path: Path, policy: Path, flags: list[str], compress: str) -> None:
    """skopeo 1.9 takes any flag with --preserve-digests and copies the image unchanged
    (containers/image's "Instructed to preserve digests": no conversion, no compression
    change); a destination that cannot take it so fails, in both."""
    require_peer("skopeo")
    assert main(["--root", root, "commit", "-q", compress, "working-container",
                 f"oci:{tmp_path}/src:v1"]) == 0
    source = read_image(parse_image_name(f"oci:{tmp_path}/src:v1"))
    for dest in ("dir:{d}/{who}", "oci:{d}/{who}:v1", "docker-archive:{d}/{who}.tar"):
        ours, theirs = (dest.format(d=tmp_path, who=who) for who in ("ours", "theirs"))
        code = main(["copy", "-q", "--policy", str(policy), "--preserve-digests", *flags,
                     f"oci:{tmp_path}/src:v1", ours])
        done = subprocess.run(["skopeo", "--policy", str(policy), "copy", "-q",
                               "--preserve-digests", *flags, f"oci:{tmp_path}/src:v1",
                               theirs], capture_output=True, text=True, check=False,
                              timeout=120)
        if dest.startswith("docker-archive"):  # takes schema2 only
            assert (code, done.returncode) == (125, 1), done.stderr
            assert not (tmp_path / "ours.tar").exists()
            continue
        assert (code, done.returncode) == (0, 0), done.stderr
        # every file: dir:'s, and oci:'s blobs, index.json and oci-layout
        assert _tree(tmp_path / "ours") == _tree(tmp_path / "theirs")
        assert read_image(parse_image_name(ours)) == source  # manifest and blobs as they are
        for who in ("ours", "theirs"):
            shutil.rmtree(tmp_path / who)


@pytest.mark.requires_peer("skopeo")
def test_dest_decompress_and_compress_write_what_skopeo_writes(
        root: str, tmp_path: Path, policy: Path) -> None:
    require_peer("skopeo")
    assert main(["--root", root, "commit", "-q", "-D=false", "working-container",
                 f"oci:{tmp_path}/src:v1"]) == 0
    for flag in ("--dest-decompress", "--dest-compress"):
        ours, theirs = tmp_path / f"ours{flag}", tmp_path / f"theirs{flag}"
        assert main(["copy", "-q", "--policy", str(policy), flag, f"oci:{tmp_path}/src:v1",
                     f"dir:{ours}"]) == 0
        done = subprocess.run(["skopeo", "--policy", str(policy), "copy", "-q", flag,
                               f"oci:{tmp_path}/src:v1", f"dir:{theirs}"],
                              capture_output=True, text=True, check=False, timeout=120)
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in ours.iterdir()) == sorted(p.name for p in theirs.iterdir())
        assert (ours / "manifest.json").read_bytes() == (theirs / "manifest.json").read_bytes()


def _archive_index(path: Path) -> bytes:
    with tarfile.open(path) as tar:
        member = tar.extractfile("manifest.json")
        assert member is not None
        return member.read()


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("name", ["", ":busybox", ":quay.io/team/app:v2"])
def test_additional_tags_are_the_repo_tags_skopeo_writes(
        root: str, tmp_path: Path, policy: Path, name: str) -> None:
    """Fully qualified, the reference's own first (latest when untagged), each once; the
    whole archive is skopeo's, byte for byte."""
    require_peer("skopeo")
    assert main(["--root", root, "commit", "-q", "working-container",
                 f"oci:{tmp_path}/src:v1"]) == 0
    tags = ["--additional-tag", "app:1", "--additional-tag", "localhost:5000/x/y:2",
            "--additional-tag", "app:1", "--additional-tag", "busybox:latest"]
    ours, theirs = tmp_path / "ours.tar", tmp_path / "theirs.tar"
    assert main(["copy", "-q", "--policy", str(policy), *tags, f"oci:{tmp_path}/src:v1",
                 f"docker-archive:{ours}{name}"]) == 0
    done = subprocess.run(["skopeo", "--policy", str(policy), "copy", "-q", *tags,
                           f"oci:{tmp_path}/src:v1", f"docker-archive:{theirs}{name}"],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert ours.read_bytes() == theirs.read_bytes()  # repositories names every tag too
    assert b"docker.io/library/app:1" in _archive_index(ours)


@pytest.mark.parametrize(("tag", "error"), [
    ("app", "Error: additional-tag 'app' must be a tagged reference\n"),
    ("BAD:1", "Error: error parsing additional-tag 'BAD:1': invalid reference 'BAD:1': "
              "repository name must be lowercase\n"),
])
def test_an_untagged_or_invalid_additional_tag_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], tag: str, error: str) -> None:
    assert main(["copy", "-q", "--additional-tag", tag, f"oci:{tmp_path}/src:v1",
                 f"docker-archive:{tmp_path}/a.tar"]) == 125
    assert capsys.readouterr().err == error
    assert not (tmp_path / "a.tar").exists()


def test_command_timeout_bounds_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        assert main(["--command-timeout", "300ms", "inspect",
                     f"docker://127.0.0.1:{port}/app:v1"]) == 125
    assert capsys.readouterr().err == (f"Error: gave up on 127.0.0.1:{port}: the "
                                       "operation's time limit of 0.3s passed\n")


def test_debug_logs_on_stderr(tmp_path: Path, policy: Path, root: str,
                              capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        assert main(["--debug", "inspect", f"docker://127.0.0.1:{port}/app:v1"]) == 125
    err = capsys.readouterr().err
    assert "DEBU urllib3" in err and err.splitlines()[-1].startswith("Error: ")
