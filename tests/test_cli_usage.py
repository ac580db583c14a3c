"""Usage errors of every command line are one line and exit 2, never a usage dump."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import cast

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


def _lazy_cli(built: list[str]) -> argparse.ArgumentParser:
    from harness.util.cli import OneLineArgumentParser, Subcommands  # noqa: PLC0415

    parser = OneLineArgumentParser(prog="tool")
    sub = cast(Subcommands, parser.add_subparsers(dest="command", metavar="COMMAND",
                                                  required=True, action=Subcommands))
    for name in ("first", "second"):
        def arguments(p: argparse.ArgumentParser, name: str = name) -> None:
            built.append(name)
            p.add_argument("--flag", help=f"{name}'s flag")
        sub.add_command(name, help=f"the {name} command", arguments=arguments)
    return parser


def test_only_the_chosen_command_s_arguments_are_built() -> None:
    built: list[str] = []
    parser = _lazy_cli(built)
    assert parser.parse_args(["second", "--flag", "x"]).flag == "x"
    assert built == ["second"]
    assert "first" in parser.format_help() and "the first command" in parser.format_help()
    assert built == ["second"]  # listing a command does not build it


def test_a_command_looked_up_by_name_is_complete() -> None:
    built: list[str] = []
    parser = _lazy_cli(built)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == ["first", "second"]
    first = sub.choices["first"]
    assert [a.option_strings for a in first._actions] == [["-h", "--help"], ["--flag"]]
    assert first.prog == "tool first"
    assert sub.choices["first"] is first and built == ["first"]
