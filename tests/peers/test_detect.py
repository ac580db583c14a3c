"""Peer detection: exact reasons, and REQUIRE_REAL_PEERS turning skips into failures."""

from __future__ import annotations

import shutil

import pytest

from harness.peers import detect


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
