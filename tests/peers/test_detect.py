"""Peer detection: exact reasons, and REQUIRE_REAL_PEERS turning skips into failures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.peers import detect

ROOT = Path(__file__).resolve().parents[2]


def test_missing_peer_reason_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    detect.missing_reason.cache_clear()
    try:
        assert detect.missing_reason("skopeo") == "skopeo not installed: apt-get install skopeo"
    finally:
        detect.missing_reason.cache_clear()


def test_unknown_peer_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="unknown peer 'zot'"):
        detect.missing_reason("zot")


def test_requires_peer_marker_skips_or_fails(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(
        """
        import pytest
        from harness.peers import detect

        detect.PEERS["nothing"] = detect.Peer("nothing", "no-such-binary-x", "apt-get install x")

        @pytest.mark.requires_peer("nothing")
        def test_needs_it():
            pass
        """
    )
    monkeypatch.delenv(detect.REQUIRE_ENV, raising=False)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*nothing not installed: apt-get install x*"])
    monkeypatch.setenv(detect.REQUIRE_ENV, "1")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*REQUIRE_REAL_PEERS=1 but nothing not installed*"])


@pytest.mark.requires_peer("gzip")
def test_present_peer_runs() -> None:
    assert detect.missing_reason("gzip") is None


def test_without_peers_every_peer_test_skips_with_its_reason(tmp_path: Path) -> None:
    """The machine-without-peers run: the peer-driving tests here pass or skip, none fail."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "true", "sha256sum", "ldd"):  # base system only, no peer
        found = shutil.which(tool)
        assert found is not None
        (bindir / tool).symlink_to(found)
    env = {**os.environ, "PATH": str(bindir),
           "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    env.pop(detect.REQUIRE_ENV, None)
    modules = [str(Path(__file__).with_name(name)) for name in (
        "test_launchers.py", "test_clients.py", "test_peers_docs.py", "test_targets.py")]
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:xdist",
                             *modules], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "docker-registry not installed: apt-get install docker-registry" in result.stdout
    assert "skopeo not installed: apt-get install skopeo" in result.stdout
    assert "docker not installed" in result.stdout
    assert " skipped" in result.stdout.splitlines()[-1]
