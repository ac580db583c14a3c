"""The buildah-like commands, in process and (for error output) as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.build import command_words
from harness.cli.main import main
from harness.util.errors import HarnessError


def run(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str]:
    code = main(["--root", str(root), *args])
    return code, capsys.readouterr().out


def test_from_add_config_commit_and_listing(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path, policy: Path) -> None:
    root = tmp_path / "root"
    src = tmp_path / "src.txt"
    src.write_text("payload")
    code, out = run(capsys, root, "from", "scratch")
    assert code == 0
    ctr = out.splitlines()[-1]
    assert ctr == "working-container"
    assert run(capsys, root, "add", ctr, str(src), "/app/")[0] == 0
    assert run(capsys, root, "config", ctr, "--cmd", "run --fast", "--entrypoint",
               '["/bin/app"]', "--env", "A=1", "--label", "l=v", "--author", "me",
               "--workingdir", "/app", "--user", "1")[0] == 0
    iid = tmp_path / "iid"
    code, out = run(capsys, root, "commit", ctr, "app:1", "--timestamp", "0", "--tag", "app:2",
                    "--iidfile", str(iid), "--signature-policy", str(policy), "--quiet")
    assert (code, out) == (0, "")  # the ID goes to the iidfile only, as with buildah
    image_id = iid.read_text().removeprefix("sha256:")
    _, out = run(capsys, root, "images", "--json")
    rows = json.loads(out)
    assert {r["name"] for r in rows} == {"localhost/app:1", "localhost/app:2"}
    assert {r["id"] for r in rows} == {image_id}
    code, out = run(capsys, root, "mount", ctr)
    assert (Path(out.strip()) / "app/src.txt").read_text() == "payload"
    code, out = run(capsys, root, "containers")
    assert ctr in out
    code, out = run(capsys, root, "from", "app:1")
    assert out.splitlines()[-1] == "app-working-container"
    rootfs = Path(run(capsys, root, "mount", "app-working-container")[1].strip())
    assert (rootfs / "app/src.txt").read_text() == "payload"


def test_tag_rmi_and_rm(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                        policy: Path) -> None:
    root = tmp_path / "root"
    run(capsys, root, "from", "scratch", "--name", "c")
    _, out = run(capsys, root, "commit", "c", "one", "--signature-policy", str(policy), "-q")
    image_id = out.strip()
    assert run(capsys, root, "tag", "one", "two", "quay.io/x/three:3")[0] == 0
    assert run(capsys, root, "rmi", "two")[1].strip() == "untagged: localhost/two:latest"
    run(capsys, root, "from", "one", "--name", "user")
    assert main(["--root", str(root), "rmi", image_id]) == 125
    assert "in use by container(s) user" in capsys.readouterr().err
    assert run(capsys, root, "rm", "user")[0] == 0
    assert run(capsys, root, "rmi", image_id)[1].strip() == image_id
    assert json.loads(run(capsys, root, "images", "--json")[1]) == []
    assert run(capsys, root, "check")[0] == 0
    (root / "blobs/sha256/.tmp-left-by-a-crash").write_bytes(b"x")
    code, out = run(capsys, root, "check", "--clean", "--min-age", "0")
    assert code == 0 and out.strip() == f"removed: {root}/blobs/sha256/.tmp-left-by-a-crash"


@pytest.mark.parametrize("args,message", [
    (["add", "nope", "x", "/"], "container 'nope' not known"),
    (["from", "missing:1"], "image 'missing:1' not known"),
    (["config", "c", "--env", "NOEQUALS"], "--env 'NOEQUALS': expected KEY=VALUE"),
    (["config", "c", "--cmd", "[1, 2"], "--cmd: invalid JSON array"),
    (["rmi", "localhost/none"], "not known"),
])
def test_errors_are_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                             args: list[str], message: str) -> None:
    root = tmp_path / "root"
    run(capsys, root, "from", "scratch", "--name", "c")
    assert main(["--root", str(root), *args]) == 125
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_real_process_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness", "--root", str(tmp_path),
                           "commit", "ghost"], check=False, capture_output=True, text=True)
    assert proc.returncode == 125
    assert proc.stderr == "Error: container 'ghost' not known in the local store\n"


def test_command_words_follow_buildah() -> None:
    assert command_words('["a", "b c"]', "--cmd", shell_form=False) == ["a", "b c"]
    assert command_words("echo 'hello world'", "--cmd", shell_form=False) == \
        ["echo", "hello world"]
    assert command_words("echo hi", "--entrypoint", shell_form=True) == \
        ["/bin/sh", "-c", "echo hi"]
    assert command_words("", "--cmd", shell_form=False) is None
    with pytest.raises(HarnessError, match="array of strings"):
        command_words("[1]", "--cmd", shell_form=False)


def test_inspect_a_local_image_shows_its_id_and_manifest_digest(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, policy: Path) -> None:
    root = tmp_path / "root"
    run(capsys, root, "from", "scratch", "--name", "c")
    run(capsys, root, "config", "c", "--label", "who=me")
    _, out = run(capsys, root, "commit", "c", "demo:v1", "--signature-policy", str(policy), "-q")
    image_id = out.strip()
    code, out = run(capsys, root, "inspect", "demo:v1")
    summary = json.loads(out)
    assert code == 0
    assert summary["Id"] == image_id
    layout = tmp_path / "layout"
    assert run(capsys, root, "push", "demo:v1", f"oci:{layout}:v1", "--signature-policy",
               str(policy), "--compression-format", "none", "--quiet")[0] == 0
    index = json.loads((layout / "index.json").read_text())
    assert summary["Digest"] == index["manifests"][0]["digest"]  # an unchanged copy
    assert summary["Labels"] == {"who": "me", "io.buildah.version": "1.28.2"}  # the default
    code, out = run(capsys, root, "inspect", f"oci:{layout}:v1")
    assert "Id" not in json.loads(out)  # transports have no store ID to show
    assert main(["--root", str(root), "inspect", "nosuch:v9"]) == 125
    assert capsys.readouterr().err == "Error: image 'nosuch:v9' not known in the local store\n"


def test_commit_elsewhere_prints_no_id_and_writes_no_iidfile(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, policy: Path) -> None:
    """buildah 1.28 reports an image ID only for an image store."""
    root, iid = tmp_path / "root", tmp_path / "iid"
    run(capsys, root, "from", "scratch", "--name", "c")
    code, out = run(capsys, root, "commit", "c", f"oci:{tmp_path / 'layout'}:t", "--iidfile",
                    str(iid), "--signature-policy", str(policy), "-q")
    assert (code, out, iid.exists()) == (0, "", False)
    code, out = run(capsys, root, "commit", "c", f"oci:{tmp_path / 'layout'}:u",
                    "--signature-policy", str(policy), "-q")
    assert (code, out) == (0, "")
    code, out = run(capsys, root, "commit", "c", f"harness-store:[{tmp_path / 'other'}]x",
                    "--signature-policy", str(policy), "-q")
    assert code == 0 and len(out.strip()) == 64


def test_calls_in_one_process_carry_nothing_over(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path, policy: Path) -> None:
    """main() parses with one parser per process: no option of a call reaches the next
    (a repeatable option's list included)."""
    root = tmp_path / "root"
    run(capsys, root, "from", "scratch", "--name", "a")
    run(capsys, root, "from", "scratch", "--name", "b")
    run(capsys, root, "config", "b", "--label", "only=b")  # b's image differs from a's
    first = run(capsys, root, "commit", "a", "one", "--tag", "extra", "-q",
                "--signature-policy", str(policy))[1].strip()
    second = run(capsys, root, "commit", "b", "two", "-q",
                 "--signature-policy", str(policy))[1].strip()
    rows = json.loads(run(capsys, root, "images", "--json")[1])
    assert {r["name"]: r["id"] for r in rows} == {
        "localhost/one:latest": first, "localhost/extra:latest": first,
        "localhost/two:latest": second}
