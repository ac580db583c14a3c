"""``python -m harness copy|inspect|push``: skopeo/buildah spellings, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.model import mediatype as mt
from harness.model.digest import Digest
from harness.model.manifest import parse_manifest
from harness.pytest_plugin.images import BuiltImage


def _main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_copy_writes_the_digest_file_and_reports(
        oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    src, _ = oci_image
    digest_file = tmp_path / "digest"
    code, out, err = _main(capsys, "copy", "--policy", str(policy), "--format", "v2s2",
                           "--digestfile", str(digest_file), src, f"dir:{tmp_path}/d")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "Getting image source signatures"
    assert out.splitlines()[-1] == "Storing signatures"
    manifest = (tmp_path / "d" / "manifest.json").read_bytes()
    assert parse_manifest(manifest).media_type == mt.DOCKER_V2S2_MANIFEST
    assert digest_file.read_text() == str(Digest.from_bytes(manifest))


def test_copy_compression_flags(oci_image: tuple[str, BuiltImage], tmp_path: Path,
                                policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(capsys, "copy", "-q", "--policy", str(policy),
                         "--dest-compress-format", "zstd", "--dest-compress-level", "5",
                         oci_image[0], f"oci:{tmp_path}/z:x")
    assert (code, out) == (0, "")
    code, out, _ = _main(capsys, "inspect", "--raw", f"oci:{tmp_path}/z:x")
    layers = parse_manifest(out.encode()).layers
    assert {d.media_type for d in layers} == {mt.OCI_LAYER_ZSTD}


def test_inspect_summary_raw_and_config(oci_image: tuple[str, BuiltImage],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    src, built = oci_image
    code, out, _ = _main(capsys, "inspect", src)
    summary = json.loads(out)
    assert code == 0
    assert summary["Digest"] == str(Digest.from_bytes(built.manifest))
    assert summary["Layers"] == [str(d.digest) for d in parse_manifest(built.manifest).layers]
    assert (summary["Architecture"], summary["Os"]) == ("amd64", "linux")
    assert summary["Labels"] == {"org.example.test": "yes"}
    assert summary["Env"] == ["PATH=/bin"]
    _, out, _ = _main(capsys, "inspect", "--raw", src)
    assert out.encode() == built.manifest
    _, out, _ = _main(capsys, "inspect", "--raw", "--config", src)
    assert out.encode() == built.config
    _, out, _ = _main(capsys, "inspect", "--config", src)
    assert json.loads(out) == json.loads(built.config)


@pytest.mark.parametrize(("argv", "message"), [
    (["inspect", "oci:/nonexistent/layout:x"], "is not an OCI layout"),
    (["copy", "nocolon", "dir:/tmp/x"], "expected colon-separated transport:reference"),
    (["copy", "--src-creds", ":pw", "oci:/x:y", "dir:/tmp/x"], "user name is empty"),
    (["inspect", "docker://example.com/Upper"], "must be lowercase"),
])
def test_errors_are_one_line(argv: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _main(capsys, *argv)
    assert code == 125
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("Error: ")
    assert message in err


def test_missing_policy_file_is_one_line(oci_image: tuple[str, BuiltImage], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(capsys, "copy", "--policy", str(tmp_path / "none.json"),
                         oci_image[0], f"dir:{tmp_path}/d")
    assert code == 125
    assert "no signature policy at" in err
    assert err.count("\n") == 1


def test_push_from_the_store(oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "root"
    code, _, err = _main(capsys, "--root", str(root), "copy", "-q", "--policy", str(policy),
                         oci_image[0], "harness-store:localhost/mine:v1")
    assert (code, err) == (0, "")
    code, out, err = _main(capsys, "--root", str(root), "push", "--signature-policy",
                           str(policy), "--format", "v2s2", "--digestfile",
                           str(tmp_path / "digest"), "mine:v1", f"dir:{tmp_path}/pushed")
    assert "Writing manifest to image destination" in out
    assert code == 0
    manifest = (tmp_path / "pushed" / "manifest.json").read_bytes()
    assert (tmp_path / "digest").read_text() == str(Digest.from_bytes(manifest))
    parsed = parse_manifest(manifest)
    assert parsed.media_type == mt.DOCKER_V2S2_MANIFEST
    assert {d.media_type for d in parsed.layers} == {mt.DOCKER_LAYER_GZIP}


def test_push_of_an_unknown_image_is_one_line(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(capsys, "--root", str(tmp_path), "push", "nothere", "oci:/tmp/x:y")
    assert code == 125
    assert "not known in the local store" in err
    assert err.count("\n") == 1


def test_module_entry_point_runs_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "harness", "inspect", f"dir:{tmp_path}"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 125
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("Error: dir:")
