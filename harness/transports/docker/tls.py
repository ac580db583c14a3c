"""TLS for registry sessions: the trust a context verifies with, and client certificates.

``--cert-dir`` follows containers-certs.d(5): ``*.crt`` files are extra CAs, and each
``name.cert`` with its ``name.key`` is a client certificate.
"""

from __future__ import annotations

import ssl
from pathlib import Path

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


def ssl_context(ctx: SystemContext) -> ssl.SSLContext:
    """The verifying context for *ctx*: system CAs plus the CA file and cert dir."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(ALPN)
    _load_files(context, ctx)
    return context


def unverified_context(ctx: SystemContext | None = None) -> ssl.SSLContext:
    """The context of ``--tls-verify=false``: it checks nothing, so it loads no system CA,
    but it still presents the client certificates of *ctx*'s cert dir.

    containers/image does the same: ``newDockerClient`` loads the cert dir
    (``tlsclientconfig.SetupCertificates``) whatever the verification setting, which only
    sets ``InsecureSkipVerify``. Without a context of its own urllib3 loads the system's CAs
    into every new one (30-50 ms of CPU here), for certificates it then does not check.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(ALPN)
    if ctx is not None:
        _load_files(context, ctx)  # the CAs load (a broken file is named) and go unused
    return context


def _load_files(context: ssl.SSLContext, ctx: SystemContext) -> None:
    try:
        if ctx.ca_file is not None:
            context.load_verify_locations(cafile=str(ctx.ca_file))
        if ctx.cert_dir is not None:
            _load_cert_dir(context, ctx.cert_dir)
    except (OSError, ssl.SSLError) as exc:
        raise TLSConfigError(f"cannot load TLS files: {exc}") from None


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
        context.load_verify_locations(cafile=str(ca))
    for cert in sorted(directory.glob("*.cert")):
        key = cert.with_suffix(".key")
        if not key.exists():
            raise TLSConfigError(f"--cert-dir: {cert.name} has no matching {key.name}")
        context.load_cert_chain(str(cert), str(key))
    for key in sorted(directory.glob("*.key")):  # containers/image refuses a lone key too
        cert = key.with_suffix(".cert")
        if not cert.exists():
            raise TLSConfigError(f"--cert-dir: {key.name} has no matching {cert.name}")
