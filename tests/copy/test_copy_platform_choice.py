"""``--override-arch``/``--override-os``/``--override-variant``: the image a single-image
copy or inspect takes from an index, byte for byte the one skopeo 1.9 takes, and the same
refusal when none fits (containers/image 5.23's ChooseInstance)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.cli.main import main
from harness.model import mediatype as mt
from harness.model.descriptor import Descriptor, Platform
from harness.model.digest import Digest
from harness.model.manifest import OCIIndex, parse_manifest, platform_instance
from harness.model.platforms import PlatformChoice, host_variant
from harness.pytest_plugin.images import write_index
from harness.transports.alltransports import parse_image_name
from harness.util.errors import HarnessError

# The platforms the generated indexes hold, in this order: arm twice (v7, v5) and arm64
# with and without its variant, so that the variant fallbacks have something to choose.
PLATFORMS = (
    Platform("amd64", "linux"),
    Platform("arm64", "linux", variant="v8"),
    Platform("arm", "linux", variant="v7"),
    Platform("arm", "linux", variant="v5"),
    Platform("amd64", "windows"),
    Platform("arm64", "linux"),
)
# (arch, os, variant); None leaves the flag out (this machine's value).
CHOICES = [
    ("amd64", "linux", None), ("arm64", "linux", None), ("arm64", "linux", "v8"),
    ("arm64", "linux", "v9"), ("arm", "linux", None), ("arm", "linux", "v8"),
    ("arm", "linux", "v7"), ("arm", "linux", "v6"), ("arm", "linux", "v5"),
    ("arm", "linux", "v4"), ("amd64", "windows", None), ("amd64", "windows", "v2"),
    ("s390x", "linux", None), ("amd64", "darwin", None), ("arm", "windows", "v7"),
    (None, "windows", None), (None, None, None),
]
_FATAL = re.compile(r'level=fatal msg="(.*)"$')


def _flags(arch: str | None, os_name: str | None, variant: str | None) -> list[str]:
    given_flags = (("--override-arch", arch), ("--override-os", os_name),
                   ("--override-variant", variant))
    return [part for flag, value in given_flags if value is not None for part in (flag, value)]


def _skopeo(*args: str) -> tuple[int, bytes, str]:
    """skopeo's exit code, stdout and the message of its fatal line (unquoted)."""
    done = subprocess.run(["skopeo", *args], capture_output=True, check=False, timeout=120)
    lines = done.stderr.decode().strip().splitlines()
    found = _FATAL.search(lines[-1]) if lines else None
    reason = found.group(1).replace('\\"', '"') if found else ""
    return done.returncode, done.stdout, reason


def _ours(capfd: pytest.CaptureFixture[str], *args: str) -> tuple[int, bytes, str]:
    capfd.readouterr()
    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out.encode(), err.strip().removeprefix("Error: ")


def _compare(tmp_path: Path, policy: Path, capfd: pytest.CaptureFixture[str], src: str,
             flags: list[str], name: str) -> None:
    """The same manifest and config chosen, or the same one-line refusal."""
    theirs, ours = tmp_path / f"{name}-skopeo", tmp_path / f"{name}-ours"
    their_code, _, their_reason = _skopeo("--policy", str(policy), *flags, "copy", "-q",
                                          src, f"dir:{theirs}")
    our_code, _, our_reason = _ours(capfd, "--policy", str(policy), *flags, "copy", "-q",
                                    src, f"dir:{ours}")
    assert (our_code == 0) == (their_code == 0), (our_reason, their_reason)
    if their_code == 0:
        assert (ours / "manifest.json").read_bytes() == (theirs / "manifest.json").read_bytes()
    else:
        assert their_reason.startswith("choosing an image from manifest list")
        assert our_reason == their_reason
        assert not ours.exists() or not (ours / "manifest.json").exists()
    their_code, their_config, their_reason = _skopeo(*flags, "inspect", "--config", "--raw",
                                                     src)
    our_code, our_config, our_reason = _ours(capfd, *flags, "inspect", "--config", "--raw",
                                             src)
    assert (our_code == 0, our_config) == (their_code == 0, their_config)
    # skopeo prefixes "Error parsing manifest for image: ", which inspect's reason follows
    assert their_reason.removeprefix("Error parsing manifest for image: ") == our_reason


@pytest.mark.requires_peer("skopeo")
@pytest.mark.parametrize("docker", [False, True], ids=["oci-index", "docker-list"])
@pytest.mark.parametrize(("arch", "os_name", "variant"), CHOICES)
def test_the_image_skopeo_chooses(tmp_path: Path, policy: Path,
                                  capfd: pytest.CaptureFixture[str], docker: bool,
                                  arch: str | None, os_name: str | None,
                                  variant: str | None) -> None:
    # skopeo finds no Docker list in an OCI layout's index.json: a list goes in dir:
    src = f"dir:{tmp_path}/list" if docker else f"oci:{tmp_path}/layout:multi"
    write_index(parse_image_name(src), docker=docker, platforms=PLATFORMS)
    _compare(tmp_path, policy, capfd, src, _flags(arch, os_name, variant), "c")


_ARCHES = st.sampled_from(["amd64", "arm64", "arm", "s390x"])
_OSES = st.sampled_from(["linux", "windows"])
_VARIANTS = st.sampled_from([None, "v5", "v6", "v7", "v8"])


@pytest.mark.requires_peer("skopeo")
# policy is only read and capfd is drained by every call: both may serve every example
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(platforms=st.lists(st.builds(Platform, _ARCHES, _OSES, variant=_VARIANTS),
                          min_size=1, max_size=5, unique=True),
       choice=st.tuples(st.one_of(st.none(), _ARCHES), st.one_of(st.none(), _OSES),
                        _VARIANTS))
def test_any_index_in_any_order(tmp_path_factory: pytest.TempPathFactory, policy: Path,
                                capfd: pytest.CaptureFixture[str],
                                platforms: list[Platform],
                                choice: tuple[str | None, str | None, str | None]) -> None:
    """Generated indexes (entries in any order) and choices: skopeo's pick, or its refusal."""
    tmp_path = tmp_path_factory.mktemp("choice")
    src = f"oci:{tmp_path}/layout:multi"
    write_index(parse_image_name(src), platforms=tuple(platforms))
    _compare(tmp_path, policy, capfd, src, _flags(*choice), "g")


def _index(*platforms: Platform | None) -> OCIIndex:
    return OCIIndex([Descriptor("application/vnd.oci.image.manifest.v1+json",
                                Digest.from_bytes(bytes([i])), 1, platform=p)
                     for i, p in enumerate(platforms)])


def test_an_oci_entry_without_platform_is_the_last_resort() -> None:
    index = _index(Platform("arm64", "linux"), None, Platform("s390x", "linux"))
    assert platform_instance(index, PlatformChoice("s390x", "linux")) == \
        index.manifests[2].digest
    assert platform_instance(index, PlatformChoice("riscv64", "linux")) == \
        index.manifests[1].digest


def test_no_fit_is_refused_not_the_first_entry() -> None:
    index = _index(Platform("arm64", "linux"))
    with pytest.raises(HarnessError, match=r'^no image found in image index for architecture '
                                           r'amd64, variant "v2", OS linux$'):
        platform_instance(index, PlatformChoice("amd64", "linux", "v2"))


@pytest.mark.parametrize(("cpu", "variant"), [("7", "v7"), ("AArch64", "v8"), ("6TEJ", "v6"),
                                              ("5te", "v5"), ("9", "")])
def test_an_arm_machine_wants_the_variant_its_kernel_reports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu: str, variant: str) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nCPU architecture: {cpu}\nCPU variant\t: 0x0\n")
    monkeypatch.setattr("harness.model.platforms.CPUINFO", cpuinfo)
    assert host_variant("arm") == variant
    assert host_variant("amd64") == ""
    monkeypatch.setattr("harness.model.platforms.host_architecture", lambda: "arm")
    wanted = PlatformChoice().wanted()
    assert wanted[0][2] == variant
    # an explicit architecture, even this machine's, wants no particular variant
    assert PlatformChoice("arm").wanted()[0][2] == ""


def test_arm_v6_falls_back_to_v5_not_v7(tmp_path: Path) -> None:
    src = f"oci:{tmp_path}/layout:multi"
    built = write_index(parse_image_name(src), platforms=PLATFORMS)
    parsed = parse_manifest(built.manifest, mt.OCI_INDEX)
    assert platform_instance(parsed, PlatformChoice("arm", "linux", "v6")) == \
        built.images[3].digest
