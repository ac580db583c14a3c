"""Command-line plumbing shared by the project's three CLIs."""

from __future__ import annotations

import argparse
import atexit
import os
import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn


class GoBool(argparse._StoreAction):
    """A boolean flag as Go's pflag reads one: ``--name`` alone means true and never takes
    the next argument (``commit -D CONTAINER``), ``--name=BOOL`` sets it.
    :class:`OneLineArgumentParser` spells the bare form ``--name=true`` before parsing."""


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2.

    argparse prints the whole usage block before the error; in CI logs the one line that
    says what was wrong is what people read. ``--help`` still prints the usage. An unknown
    flag is reported by the subcommand it was given to, so the line points at that
    subcommand's own ``--help``.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: Any = None) -> tuple[Any, list[str]]:
        words = list(sys.argv[1:] if args is None else args)
        bare = {name for action in self._actions if isinstance(action, GoBool)
                for name in action.option_strings}
        end = words.index("--") if "--" in words else len(words)
        words[:end] = [f"{word}=true" if word in bare else word for word in words[:end]]
        return super().parse_known_args(words, namespace)

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: Any = None) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self._chosen(parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        assert isinstance(parsed, argparse.Namespace)
        return parsed

    def _chosen(self, parsed: argparse.Namespace) -> argparse.ArgumentParser:
        """The (sub)command parser the arguments were given to."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, OneLineArgumentParser):
                    return chosen._chosen(parsed)
        return self


AddArguments = Callable[[argparse.ArgumentParser], None]

if TYPE_CHECKING:  # generic only in the type stubs
    _SubParsersAction = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsersAction = argparse._SubParsersAction


class Subcommands(_SubParsersAction):
    """Subcommands whose parsers are built when first looked up: when chosen on the
    command line, or read as ``choices[name]``.

    A CLI that lists every command in ``--help`` then builds, on each run, only the chosen
    command's arguments; for ``python -m harness`` building all 18 commands' parsers cost
    ~4 ms of each run's start-up. argparse has no such hook: this keeps the command's help
    line in the pseudo-action argparse lists (as ``add_parser(help=...)`` does) and puts a
    mapping that builds on lookup where argparse keeps its parsers by name.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parsers = _LazyParsers(self._build)
        # argparse only looks parsers up, tests membership and iterates names: a mapping does
        self.choices = self._name_parser_map = self._parsers  # type: ignore[assignment]
        self._arguments: dict[str, AddArguments] = {}

    def add_command(self, name: str, *, help: str, arguments: AddArguments) -> None:
        """Add command *name*, listed with *help*; *arguments* adds its arguments to its
        parser when that parser is first needed."""
        if name in self._parsers:
            raise argparse.ArgumentError(self, f"conflicting subparser: {name}")
        self._choices_actions.append(self._ChoicesPseudoAction(name, (), help))
        self._arguments[name] = arguments
        self._parsers.defer(name)

    def _build(self, name: str) -> argparse.ArgumentParser:
        parser = self._parser_class(prog=f"{self._prog_prefix} {name}")
        self._arguments[name](parser)
        return parser


class _LazyParsers(MutableMapping[str, argparse.ArgumentParser]):
    """Parsers by name, in the order added; a deferred one is built on its first lookup."""

    def __init__(self, build: Callable[[str], argparse.ArgumentParser]) -> None:
        self._build = build
        self._parsers: dict[str, argparse.ArgumentParser | None] = {}  # None: not built yet

    def defer(self, name: str) -> None:
        self._parsers[name] = None

    def __getitem__(self, name: str) -> argparse.ArgumentParser:
        parser = self._parsers[name]
        if parser is None:
            parser = self._parsers[name] = self._build(name)
        return parser

    def __setitem__(self, name: str, parser: argparse.ArgumentParser) -> None:
        self._parsers[name] = parser

    def __delitem__(self, name: str) -> None:
        del self._parsers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parsers)

    def __len__(self) -> int:
        return len(self._parsers)


def is_true(value: str | None) -> bool:
    """Whether an environment variable says yes (``1``, ``true``, ``yes``, ``on``; any case);
    unset or empty is no."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def ask_password(username: str) -> str | None:
    """The password for *username* typed on the terminal, not echoed (as skopeo's
    ``--creds USER`` asks); None when stdin is no terminal (CI, a pipe) to ask on."""
    if not sys.stdin.isatty():
        return None
    import getpass  # noqa: PLC0415  (with termios: not for every command's start-up)

    return getpass.getpass(f"Password for {username}: ")


def exit_without_teardown(code: int) -> NoReturn:
    """End a command-line process with *code* as the ordinary exit does, minus tearing the
    interpreter down.

    Freeing every module and object at exit took ~40 ms of CPU after a 1 KiB push, a fifth
    of the whole command (docs/bench.md). What exit must do is still done, in its order:
    the atexit callbacks (logging's flush, finalizers such as temporary folders' removal),
    then flushing stdout and stderr. The ordinary exit runs instead while a thread it would
    wait for is alive, or when a flush fails (a closed pipe is reported as it always is).
    Only for ``__main__``: a process that imported us decides its own exit.
    """
    import threading  # noqa: PLC0415  (not for --version, which never gets here)

    current = threading.current_thread()
    if any(t is not current and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)
    _flush_or_exit(code)
    atexit._run_exitfuncs()
    _flush_or_exit(code)
    os._exit(code)


def _flush_or_exit(code: int) -> None:
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: the process started with that descriptor closed
                stream.flush()
    except OSError:
        sys.exit(code)
