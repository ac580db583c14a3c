"""The ``docker://`` transport: a distribution-API registry client over one HTTP session
contract (:mod:`.session`), on requests or on ``http.client``.

Use :data:`TRANSPORT` (or :class:`DockerTransport`) through the contract of
:mod:`harness.transports.types`; :class:`RegistryClient` is the lower-level HTTP client, and
:class:`RegistryError` carries the registry's error code.
"""

from harness.transports.docker.auth import AuthError
from harness.transports.docker.client import (
    RegistryClient,
    RegistryConnectionError,
    RegistryUnreachableError,
)
from harness.transports.docker.credentials import CredentialsError, parse_creds
from harness.transports.docker.errors import ProtocolError, RegistryError
from harness.transports.docker.transport import (
    CHUNK_SIZE_KEY,
    TRANSPORT,
    DockerImageDestination,
    DockerImageSource,
    DockerReference,
    DockerTransport,
    ManifestTypeRejected,
)
from harness.transports.docker.upload import UploadError, UploadInterruptedError

__all__ = [
    "CHUNK_SIZE_KEY",
    "TRANSPORT",
    "AuthError",
    "CredentialsError",
    "DockerImageDestination",
    "DockerImageSource",
    "DockerReference",
    "DockerTransport",
    "ManifestTypeRejected",
    "ProtocolError",
    "RegistryClient",
    "RegistryConnectionError",
    "RegistryError",
    "RegistryUnreachableError",
    "UploadError",
    "UploadInterruptedError",
    "parse_creds",
]
