"""TLS for registry sessions: the trust a context verifies with, and client certificates.

``--cert-dir`` follows containers-certs.d(5): ``*.crt`` files are extra CAs, and each
``name.cert`` with its ``name.key`` is a client certificate.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.transports.types import SystemContext
from harness.util.errors import HarnessError

# Where containers/image looks for a registry's cert dir (``certs.d/HOST:PORT``) when no
# ``--cert-dir`` is given: the user's folder first (under $HOME), then these.
HOME_CERTS_D = Path(".config/containers/certs.d")
SYSTEM_CERTS_D = (Path("/etc/containers/certs.d"), Path("/etc/docker/certs.d"))


# Offered in the handshake: urllib3 sets it on every context it wraps a socket with, so
# both sessions (requests and http.client) say the same.
ALPN = ["http/1.1"]


class TLSConfigError(HarnessError):
    """A CA file or certificate directory cannot be used."""


def ssl_context(ctx: SystemContext, bundle: str | None = None) -> ssl.SSLContext:
    """The verifying context for *ctx*: system CAs plus *bundle* (a CA file the HTTP library
    trusts on its own: requests' certifi), the CA file and the cert dir.

    Shared: one per process and trust setting (:data:`CONTEXTS`), as Go loads the system
    pool once per process; loading the system CAs costs ~29 ms of CPU per context.
    """
    return CONTEXTS.get(_key("verify", ctx, bundle), lambda: _verifying(ctx, bundle))


def unverified_context(ctx: SystemContext | None = None) -> ssl.SSLContext:
    """The context of ``--tls-verify=false``: it checks nothing, so it loads no system CA,
    but it still presents the client certificates of *ctx*'s cert dir.

    containers/image does the same: ``newDockerClient`` loads the cert dir
    (``tlsclientconfig.SetupCertificates``) whatever the verification setting, which only
    sets ``InsecureSkipVerify``. Without a context of its own urllib3 loads the system's CAs
    into every new one (30-50 ms of CPU here), for certificates it then does not check.
    Shared like :func:`ssl_context`.
    """
    return CONTEXTS.get(_key("unverified", ctx, None), lambda: _unverified(ctx))


def _verifying(ctx: SystemContext, bundle: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.set_alpn_protocols(ALPN)
    if bundle is not None:
        _load(bundle, context.load_verify_locations, bundle)
    _load_files(context, ctx)
    return context


def _unverified(ctx: SystemContext | None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(ALPN)
    if ctx is not None:
        _load_files(context, ctx)  # the CAs load (a broken file is named) and go unused
    return context


def _load_files(context: ssl.SSLContext, ctx: SystemContext) -> None:
    if ctx.ca_file is not None:
        _load(ctx.ca_file, context.load_verify_locations, str(ctx.ca_file))
    if ctx.cert_dir is not None:
        _load_cert_dir(context, ctx.cert_dir)


def _load(path: Path | str, load: Callable[..., object], *args: Any) -> None:
    """``load(*args)``; a failure names *path*, the file it is about."""
    try:
        load(*args)
    except ssl.SSLError as exc:  # an OSError too: first. OpenSSL's reason, in words
        reason = exc.reason.lower().replace("_", " ") if exc.reason else str(exc)
        raise TLSConfigError(f"cannot load TLS file {path}: {reason}") from None
    except OSError as exc:
        raise TLSConfigError(f"cannot load TLS file {path}: {exc.strerror or exc}") from None


# What a context was built from, as the files are now: the bundle's, the CA file's and every
# *.crt, *.cert and *.key of the cert dir, each by path and a digest of its bytes (a file
# rewritten within one tick of the file system's clock keeps its size and mtime). A
# rewritten, added or removed file changes it. None when one cannot be read: the load then
# fails with its own message, and nothing is kept.
_Fingerprint = tuple[str, bytes]
ContextKey = tuple[str, "_Fingerprint | None", "_Fingerprint | None",
                   "tuple[_Fingerprint, ...] | None"]
CERT_DIR_SUFFIXES = (".crt", ".cert", ".key")


def _key(kind: str, ctx: SystemContext | None, bundle: str | None) -> ContextKey | None:
    ca_file = ctx.ca_file if ctx is not None else None
    cert_dir = ctx.cert_dir if ctx is not None else None
    try:
        return (kind, None if bundle is None else _fingerprint(bundle),
                None if ca_file is None else _fingerprint(ca_file),
                None if cert_dir is None else _dir_fingerprint(cert_dir))
    except OSError:
        return None


def _fingerprint(path: str | Path) -> _Fingerprint:
    with Path(path).open("rb") as file:
        return str(path), hashlib.file_digest(file, "blake2b").digest()


def _dir_fingerprint(directory: Path) -> tuple[_Fingerprint, ...]:
    with os.scandir(directory) as entries:
        paths = sorted(entry.path for entry in entries if entry.name.endswith(CERT_DIR_SUFFIXES))
    return (str(directory), b""), *(_fingerprint(path) for path in paths)


class ContextCache:
    """The contexts built so far, by what they were built from; thread-safe.

    A context is built once per key, under the lock (clients made from several threads
    at once load the CAs once). The oldest of more than *size* is dropped: a rewritten
    cert dir leaves a key nobody asks for again. A context is configured before it is
    shared; the sessions only wrap sockets with it (urllib3 sets its verify mode and ALPN
    again, to the values it has; requests' adapter no longer has it load certifi).
    """

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._contexts: OrderedDict[ContextKey, ssl.SSLContext] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: ContextKey | None, build: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        if key is None:
            return build()
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                context = self._contexts[key] = build()
                while len(self._contexts) > self._size:
                    self._contexts.popitem(last=False)
            self._contexts.move_to_end(key)
            return context


CONTEXTS = ContextCache()


def default_cert_dir(registry: str) -> Path | None:
    """The cert dir of *registry* (``host[:port]`` as references spell it, ``docker.io``
    for Docker Hub) without ``--cert-dir``: the first ``certs.d/HOST:PORT`` that exists in
    ``~/.config/containers``, ``/etc/containers``, ``/etc/docker`` (containers/image's
    ``dockerCertDir``; one it may not read is passed over, as there)."""
    for root in (Path.home() / HOME_CERTS_D, *SYSTEM_CERTS_D):
        candidate = root / registry
        try:
            candidate.stat()
        except (FileNotFoundError, PermissionError):
            continue
        except OSError as exc:
            raise TLSConfigError(f"cannot read {candidate}: {exc.strerror}") from None
        return candidate
    return None


def _load_cert_dir(context: ssl.SSLContext, directory: Path) -> None:
    if not directory.is_dir():
        raise TLSConfigError(f"--cert-dir {directory}: not a directory")
    for ca in sorted(directory.glob("*.crt")):
        _load(ca, context.load_verify_locations, str(ca))
    for cert in sorted(directory.glob("*.cert")):
        key = cert.with_suffix(".key")
        if not key.exists():
            raise TLSConfigError(f"--cert-dir: {cert.name} has no matching {key.name}")
        _load(cert, context.load_cert_chain, str(cert), str(key))
    for key in sorted(directory.glob("*.key")):  # containers/image refuses a lone key too
        cert = key.with_suffix(".cert")
        if not cert.exists():
            raise TLSConfigError(f"--cert-dir: {key.name} has no matching {cert.name}")
