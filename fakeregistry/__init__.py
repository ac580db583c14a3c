"""An OCI distribution registry as a werkzeug WSGI app, for tests and debugging.

>>> registry = Registry()                          # in memory, the "spec" profile
>>> with inprocess(registry) as url: ...           # requests to url reach it, no socket
>>> with serve(registry) as server: ...            # real HTTP on 127.0.0.1 (server.url)
"""

from fakeregistry.auth import AuthConfig
from fakeregistry.errors import RegistryError
from fakeregistry.faults import FaultRule
from fakeregistry.inprocess import inprocess
from fakeregistry.profiles import PROFILES, Profile
from fakeregistry.registry import Registry
from fakeregistry.server import Server, serve
from fakeregistry.transcript import Entry

__all__ = ["PROFILES", "AuthConfig", "Entry", "FaultRule", "Profile", "Registry",
           "RegistryError", "Server", "inprocess", "serve"]
