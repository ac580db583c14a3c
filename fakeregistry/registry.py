"""The registry: its state, and the WSGI app made of layers around the resources.

::

    Recorder (transcript) -> versioned -> FaultLayer -> Router -> resources
                                                          |  guard: AccessControl (auth)
                                                          v
                                       blobs | uploads | manifests | tags | referrers
                                                          |
                                               Backend: BlobStore + State + Profile

:attr:`Registry.wsgi_app` is a plain WSGI callable, so the same object serves in process
(through ``responses``) and over a socket (cheroot, in :mod:`fakeregistry.server`).
Handlers raise :class:`~fakeregistry.errors.RegistryError` for anything the client got
wrong; the router turns it into the spec's JSON body.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from fakeregistry import resources
from fakeregistry.access import AccessControl
from fakeregistry.auth import AuthConfig
from fakeregistry.backend import Backend
from fakeregistry.faults import FaultLayer, Faults
from fakeregistry.profiles import Profile, get_profile
from fakeregistry.replies import versioned
from fakeregistry.routes import Router
from fakeregistry.sessions import MAX_UPLOADS, UPLOAD_LIFETIME, UploadSessions
from fakeregistry.state import State
from fakeregistry.storage import SPOOL_THRESHOLD, BlobStore
from fakeregistry.transcript import Recorder, Transcript

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class Registry:
    """A complete registry: blobs, uploads, manifests, tags, auth, faults and a transcript."""

    def __init__(self, profile: str | Profile = "spec", *, auth: AuthConfig | None = None,
                 storage_dir: Path | None = None, seed: int = 0,
                 record: Path | None = None,
                 spool_threshold: int = SPOOL_THRESHOLD,
                 upload_lifetime: float = UPLOAD_LIFETIME,
                 max_uploads: int = MAX_UPLOADS) -> None:
        self.auth = auth or AuthConfig()
        self.blobs = BlobStore(storage_dir, spool_threshold)
        self.uploads = UploadSessions(upload_lifetime, max_uploads)
        self.state = State(storage_dir / "repositories.json" if storage_dir else None)
        self.transcript = Transcript(record)
        self.faults = Faults(seed)
        self._backend = Backend(self.blobs, self.state, get_profile(profile))
        access = AccessControl(self.auth)
        endpoints = {**resources.endpoints(self._backend, access.can_pull, self.uploads),
                     **access.endpoints()}
        router = Router(self._backend, endpoints, access)
        self._app = Recorder(versioned(FaultLayer(router, self.faults)), self.transcript)

    @property
    def profile(self) -> Profile:
        """The behaviour in force; assigning one changes the next request's behaviour."""
        return self._backend.profile

    @profile.setter
    def profile(self, profile: Profile) -> None:
        self._backend.profile = profile

    def wsgi_app(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI entry point."""
        return self._app(environ, start_response)
