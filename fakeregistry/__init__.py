"""An OCI distribution registry as a werkzeug WSGI app, for tests and debugging.

>>> registry = Registry()                          # in memory, the "spec" profile
>>> with inprocess(registry) as url: ...           # requests to url reach it, no socket
>>> with serve(registry) as server: ...            # real HTTP on 127.0.0.1 (server.url)

``inprocess`` loads on first use: it needs requests and responses, which a registry only
served over HTTP never does (they were 0.1-0.15 s of CPU of the served fake's start).
``serve`` and ``Server`` load on first use too: cheroot and the TLS certificates
(cryptography) are ~12 MB of memory that a registry only reached in process never needs.
"""

import importlib
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fakeregistry.auth import AuthConfig
from fakeregistry.errors import RegistryError
from fakeregistry.faults import FaultRule
from fakeregistry.profiles import PROFILES, Profile
from fakeregistry.registry import Registry
from fakeregistry.transcript import Entry

if TYPE_CHECKING:
    from fakeregistry.inprocess import inprocess
    from fakeregistry.server import Server, serve

__all__ = ["PROFILES", "AuthConfig", "Entry", "FaultRule", "Profile", "Registry",
           "RegistryError", "Server", "inprocess", "serve"]
_SERVER_NAMES = {"Server", "serve"}


class _Package(types.ModuleType):
    """This package, whose ``inprocess`` is always the function, loaded on first use:
    the import system binds the submodule of that name here once it loads, which the
    setter ignores."""

    @property
    def inprocess(self) -> Callable[..., Any]:
        function: Callable[..., Any] = importlib.import_module(
            "fakeregistry.inprocess").inprocess
        return function

    @inprocess.setter
    def inprocess(self, value: object) -> None:
        pass


def __getattr__(name: str) -> Any:
    """``serve`` and ``Server``, from :mod:`fakeregistry.server` when first asked for."""
    if name in _SERVER_NAMES:
        return getattr(importlib.import_module("fakeregistry.server"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


sys.modules[__name__].__class__ = _Package
