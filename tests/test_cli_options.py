"""Flags into model values (harness/cli/options.py) and the one retry policy (util/retry)."""

from __future__ import annotations

import argparse
import getpass
import io
import sys

import pytest

from harness.cli import options
from harness.cli.main import build_parser
from harness.util.errors import HarnessError
from harness.util.retry import RetryPolicy, parse_duration


@pytest.mark.parametrize(("text", "value"), [("true", True), ("1", True), ("T", True),
                                             ("False", False), ("0", False), ("f", False)])
def test_booleans_are_gos(text: str, value: bool) -> None:
    assert options.parse_bool(text) is value


@pytest.mark.parametrize("text", ["yes", "no", "", "tru"])
def test_other_booleans_are_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected true or false"):
        options.parse_bool(text)


@pytest.mark.parametrize(("text", "seconds"), [("2s", 2.0), ("500ms", 0.5), ("1m30s", 90.0),
                                               ("1.5s", 1.5), ("0", 0.0), ("3", 3.0)])
def test_durations_are_gos(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["2x", "s", "-1s", "", "nan", "2s3"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_push_retry_delay_takes_a_duration() -> None:
    args = build_parser().parse_args(["push", "--retry-delay", "500ms", "app"])
    assert args.retry_delay == 0.5
    assert build_parser().parse_args(["push", "app"]).retry_delay == 2.0


@pytest.mark.parametrize(("argv", "disabled", "dest"), [
    (["-D", "ctr", "oci:out:t"], True, "oci:out:t"),  # -D alone takes no value (pflag)
    (["--disable-compression", "ctr"], True, None),
    (["-D=false", "ctr", "app"], False, "app"),
    (["--disable-compression=false", "ctr"], False, None),
    (["ctr", "app"], True, "app"),  # buildah's default
    (["ctr", "--", "-D"], True, "-D"),  # after --, a word is a word
])
def test_go_booleans_never_take_the_next_word(argv: list[str], disabled: bool,
                                              dest: str | None) -> None:
    args = build_parser().parse_args(["commit", *argv])
    assert (args.container, args.disable_compression, args.dest) == ("ctr", disabled, dest)


def test_one_table_for_formats() -> None:
    assert options.manifest_type("docker") == options.manifest_type("v2s2")
    assert options.manifest_type(None) is None


class _Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_a_missing_password_is_asked_for_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(sys, "stdin", _Terminal(tty=True))
    monkeypatch.setattr(getpass, "getpass",
                        lambda prompt: asked.append(prompt) or "s3cret")
    creds = options.credentials("alice")
    assert (creds.username, creds.password) == ("alice", "s3cret")
    assert asked == ["Password for alice: "]
    assert options.credentials("bob:").password == ""  # given empty on purpose: not asked
    assert asked == ["Password for alice: "]


def test_a_missing_password_without_a_terminal_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Terminal(tty=False))
    with pytest.raises(HarnessError, match=r"^--src-creds alice: no password given and no "
                       r"terminal to ask on: use --src-creds alice:PASSWORD$"):
        options.credentials("alice", "--src-creds")


def test_the_cli_refuses_a_missing_password_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli.main import main  # noqa: PLC0415

    monkeypatch.setattr(sys, "stdin", _Terminal(tty=False))
    assert main(["inspect", "--creds", "alice", "docker://127.0.0.1:9/app:v1"]) == 125
    assert capsys.readouterr().err == ("Error: --creds alice: no password given and no "
                                       "terminal to ask on: use --creds alice:PASSWORD\n")


def test_warn_lines_and_one_budget() -> None:
    out, slept = io.StringIO(), []
    retries = RetryPolicy(2, 2.0, warn=out, sleep=slept.append).start()
    assert retries.again("first", retry_after=None)
    assert retries.again("second", retry_after=0.25)
    assert not retries.again("third")
    assert slept == [2.0, 0.25]
    assert out.getvalue().splitlines() == [
        "WARN Failed, retrying in 2s ... (1/2). Error: first",
        "WARN Failed, retrying in 250ms ... (2/2). Error: second"]


def test_a_deadline_stops_retries_that_would_pass_it() -> None:
    retries = RetryPolicy(5, 10.0, deadline=1.0, sleep=lambda _: None).start()
    assert not retries.again("slow")  # a 10 s wait would pass the 1 s limit
    assert retries.used == 0
    remaining = retries.remaining_time()
    assert remaining is not None and 0 <= remaining <= 1.0


def test_conflicting_credentials_are_refused() -> None:
    args = build_parser().parse_args(["inspect", "--creds", "a:b", "--username", "c",
                                      "--password", "d", "docker://x/y"])
    with pytest.raises(HarnessError, match="cannot be used together"):
        options.registry_context(args)
    args = build_parser().parse_args(["inspect", "--no-creds", "--creds", "a:b",
                                      "docker://x/y"])
    with pytest.raises(HarnessError, match="cannot be used together"):
        options.registry_context(args)


def test_compression_names_are_the_algorithms_the_tools_offer() -> None:
    """The names are spelled in options.py so that parsing loads no compressor; each names
    the Algorithm it stands for, and they are buildah's and skopeo's three."""
    from harness.model.compression import Algorithm  # noqa: PLC0415

    assert [options.compression(n) for n in options.COMPRESSION_NAMES] == [
        Algorithm.GZIP, Algorithm.NONE, Algorithm.ZSTD]
    for command in (["push", "--compression-format", "bzip2", "a"],
                    ["copy", "--dest-compress-format", "xz", "oci:/a", "dir:/b"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(command)
