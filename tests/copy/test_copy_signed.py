"""A signed image is copied as containers/image copies it: the signatures would not match
a changed manifest, so nothing is converted or recompressed, and a destination that
cannot keep them refuses before anything is written. Lines and bytes are skopeo's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.copy.engine import CopyOptions, ImageListSelection, copy_image
from harness.model import mediatype as mt
from harness.model.compression import Algorithm
from harness.pytest_plugin.images import BuiltImage, write_index
from harness.transports.alltransports import parse_image_name
from harness.util.errors import HarnessError

SIGNATURE = b"\xa3 an OpenPGP-looking signature"  # skopeo parses the first byte


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def signed(oci_image: tuple[str, BuiltImage], tmp_path: Path, policy: Path) -> str:
    """``dir:`` holding the two-layer OCI image with one signature."""
    copy_image(parse_image_name(f"dir:{tmp_path}/signed"), parse_image_name(oci_image[0]),
               CopyOptions(signature_policy_path=policy))
    (tmp_path / "signed" / "signature-1").write_bytes(SIGNATURE)
    return f"dir:{tmp_path}/signed"


@pytest.mark.parametrize("changes", [
    {"manifest_type": mt.DOCKER_V2S2_MANIFEST}, {"compression": Algorithm.ZSTD}])
def test_nothing_is_changed_under_signatures(signed: str, tmp_path: Path, policy: Path,
                                             changes: dict[str, object]) -> None:
    copy_image(parse_image_name(f"dir:{tmp_path}/out"), parse_image_name(signed),
               CopyOptions(signature_policy_path=policy, **changes))  # type: ignore[arg-type]
    assert _tree(tmp_path / "out") == _tree(tmp_path / "signed")


def test_removing_the_signatures_allows_the_change(signed: str, tmp_path: Path,
                                                   policy: Path) -> None:
    result = copy_image(parse_image_name(f"dir:{tmp_path}/out"), parse_image_name(signed),
                        CopyOptions(signature_policy_path=policy, remove_signatures=True,
                                    manifest_type=mt.DOCKER_V2S2_MANIFEST))
    assert result.media_type == mt.DOCKER_V2S2_MANIFEST
    assert not (tmp_path / "out" / "signature-1").exists()


def test_a_destination_without_signatures_refuses_before_writing(
        signed: str, tmp_path: Path, policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["copy", "--policy", str(policy), signed, f"oci:{tmp_path}/o:x"]) != 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["Getting image source signatures",
                                "Checking if image destination supports signatures"]
    assert "cannot store the source's 1 signature(s); copy with --remove-signatures" in err
    assert not (tmp_path / "o" / "index.json").exists()
    assert not list((tmp_path / "o").glob("blobs/sha256/*"))


def test_a_signed_index_is_not_converted(tmp_path: Path, policy: Path) -> None:
    write_index(parse_image_name(f"dir:{tmp_path}/list"))
    (tmp_path / "list" / "signature-1").write_bytes(SIGNATURE)
    with pytest.raises(HarnessError, match='must be converted to type "application/vnd.docker'
                       r'.distribution.manifest.list.v2\+json" .* "Would invalidate signatures"'):
        copy_image(parse_image_name(f"dir:{tmp_path}/out"),
                   parse_image_name(f"dir:{tmp_path}/list"),
                   CopyOptions(signature_policy_path=policy, manifest_type=mt.DOCKER_V2S2_MANIFEST,
                               image_list_selection=ImageListSelection.ALL))
    assert set(_tree(tmp_path / "out")) == {"version"}  # what opening a dir: writes
    copy_image(parse_image_name(f"dir:{tmp_path}/same"), parse_image_name(f"dir:{tmp_path}/list"),
               CopyOptions(signature_policy_path=policy,
                           image_list_selection=ImageListSelection.ALL))
    assert _tree(tmp_path / "same") == _tree(tmp_path / "list")


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("flags", [[], ["--format", "v2s2"], ["--dest-compress-format", "zstd"]])
def test_the_same_lines_and_files_as_skopeo(signed: str, tmp_path: Path, policy: Path,
                                            capsys: pytest.CaptureFixture[str],
                                            flags: list[str]) -> None:
    theirs = subprocess.run(["skopeo", "--policy", str(policy), "copy", *flags, signed,
                             f"dir:{tmp_path}/theirs"], capture_output=True, text=True,
                            check=True).stdout
    capsys.readouterr()
    assert main(["copy", "--policy", str(policy), *flags, signed, f"dir:{tmp_path}/ours"]) == 0
    assert capsys.readouterr().out == theirs
    assert _tree(tmp_path / "ours") == _tree(tmp_path / "theirs")
