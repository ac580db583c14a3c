"""Which HTTP library the registry sessions of this process are built on: one process-wide
choice, made explicitly by whoever owns the process.

``requests`` is the default, for library use and for in-process calls of
``harness.cli.main.main``: the in-process fake registry (``fakeregistry.inprocess``, the
pytest plugin's ``fake_registry``) reaches a client only through ``responses``, which
patches requests. ``python -m harness`` chooses the standard library's ``http.client`` in
its process set-up (``harness/__main__.py``): importing requests and urllib3 is ~65 ms of a
command's start-up, more than a small push to a registry takes (docs/registry-client.md).

The choice lives here, outside the ``docker`` package, so that making it imports nothing.
"""

from __future__ import annotations

from typing import Final, Literal

HTTPLibrary = Literal["requests", "http.client"]
REQUESTS: Final = "requests"
STDLIB: Final = "http.client"

_selected: HTTPLibrary = REQUESTS


def select(library: HTTPLibrary) -> None:
    """Build every registry session this process opens from now on with *library*."""
    global _selected  # noqa: PLW0603 - the one process-wide setting, by design
    _selected = library


def selected() -> HTTPLibrary:
    """The library new registry sessions are built with."""
    return _selected
