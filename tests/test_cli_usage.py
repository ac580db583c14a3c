"""Usage errors of every command line are one line and exit 2, never a usage dump."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["harness", "push"], "the following arguments are required: IMAGE"),
        (["harness", "nosuch"], "invalid choice: 'nosuch'"),
        (["harness", "copy", "--format", "v9", "oci:a", "dir:b"], "invalid choice: 'v9'"),
        # An unknown flag is the subcommand's to report, pointing at its own --help.
        (["harness", "push", "--nosuch", "app"],
         "python -m harness push: unrecognized arguments: --nosuch (see python -m harness "
         "push --help)"),
        (["harness", "push", "--retry-delay", "soon", "app"], "invalid duration 'soon'"),
    ],
)
def test_usage_error_is_one_line(argv: list[str], says: str) -> None:
    result = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert says in lines[0]
    assert lines[0].endswith("--help)")


def test_fakeregistry_serve_help_describes_every_option() -> None:
    from fakeregistry.__main__ import _parser  # noqa: PLC0415

    serve = next(a for a in _parser()._actions
                 if isinstance(a, argparse._SubParsersAction)).choices["serve"]
    undescribed = [a.option_strings for a in serve._actions
                   if a.option_strings and not a.help]
    assert undescribed == []
