"""Command-line plumbing shared by the project's three CLIs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr and exit code 2.

    argparse prints the whole usage block before the error; in CI logs the one line that
    says what was wrong is what people read. ``--help`` still prints the usage. An unknown
    flag is reported by the subcommand it was given to, so the line points at that
    subcommand's own ``--help``.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")

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
