"""Our --help option lists against skopeo 1.9's and buildah 1.28's, with the gaps listed
once, in docs/cli.md."""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import pytest

from harness.cli.main import build_parser
from harness.peers.detect import require_peer

DOCS = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
# (the peer's command line, our command; None: the global flags)
PAIRS = [(("skopeo", "copy"), "copy"), (("skopeo", "inspect"), "inspect"),
         (("skopeo", "login"), "login"), (("skopeo", "logout"), "logout"),
         (("buildah", "push"), "push"), (("buildah", "commit"), "commit"),
         (("buildah", "manifest", "push"), "manifest push"), (("skopeo",), None)]


def _gaps() -> dict[str | None, set[str]]:
    gaps: dict[str | None, set[str]] = {}
    for command, flag in re.findall(r"^\| ([a-z() ]+?) \| `(--[a-z0-9.-]+)` \|",
                                    DOCS.read_text(), flags=re.MULTILINE):
        gaps.setdefault(None if command == "(global)" else command, set()).add(flag)
    return gaps


def _ours(command: str | None) -> set[str]:
    parser = build_parser()
    for word in (command or "").split():  # "manifest push": a command's own subcommand
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return {o for a in parser._actions for o in a.option_strings if o.startswith("--")}


def _theirs(argv: tuple[str, ...]) -> set[str]:
    require_peer(argv[0])
    text = subprocess.run([*argv, "--help"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    flags = text.split("Flags:", 1)[1].split("Global Flags:", 1)[0]
    return set(re.findall(r"(?:^|\s)(--[a-z0-9][a-z0-9.-]*)", flags)) - {"--help"}


@pytest.mark.requires_peer("skopeo")
@pytest.mark.requires_peer("buildah")
@pytest.mark.parametrize(("peer", "command"), PAIRS, ids=lambda v: " ".join(v)
                         if isinstance(v, tuple) else str(v))
def test_every_peer_flag_is_ours_or_a_listed_gap(peer: tuple[str, ...],
                                                 command: str | None) -> None:
    gaps = _gaps().get(command, set())
    ours = _ours(command)
    assert sorted(_theirs(peer) - ours - gaps) == []
    assert sorted(gaps & ours) == []  # a gap that is closed comes off the list
    assert gaps <= _theirs(peer)  # and the list names only the peer's real flags
