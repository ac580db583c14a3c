"""Start a real registry for a test, a conformance run or a benchmark, and always stop it.

A :class:`Launcher` is anything whose ``start()`` is a context manager yielding a
:class:`RunningRegistry`: callers never learn how the registry runs (a native process, a
container, a URL someone else keeps alive), only where it is, how to log in, which CA to
trust and which optional features it has. New registries (zot, a cloud registry) are new
launchers; tests do not change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import secrets
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

import bcrypt
import requests
import urllib3

from harness.model.access import Credentials, RegistryAccess
from harness.peers.detect import PEERS, missing_reason
from harness.util.errors import HarnessError
from harness.util.net import free_port
from harness.util.tls import TLSFiles, make_client_files, make_tls_files

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0
_PORT_ATTEMPTS = 3
_LOG_TAIL = 2000


class Feature(enum.StrEnum):
    """Optional parts of the distribution API a registry may or may not offer."""

    SCHEMA1 = "schema1"  # accepts v2s1 (signed) manifests
    DELETE = "delete"  # DELETE of manifests and blobs
    MOUNT = "mount"  # cross-repository blob mount
    CATALOG = "catalog"  # GET /v2/_catalog
    REFERRERS = "referrers"  # GET /v2/<name>/referrers/<digest>


class RegistryStartError(HarnessError):
    """The registry did not come up; the message carries the end of its log."""


class PeerMissingError(HarnessError):
    """A launcher needs a real peer that this machine does not have."""


@dataclass(frozen=True)
class RunningRegistry(RegistryAccess):
    """A started registry: how to reach it (a :class:`RegistryAccess`: ``url``,
    credentials or token, TLS), its ``host`` as image references spell it, its optional
    features and its log."""

    host: str = ""  # "127.0.0.1:PORT", the registry part of image references
    profile: frozenset[Feature] = field(default_factory=frozenset)
    log_path: Path | None = None

    def supports(self, feature: Feature) -> bool:
        return feature in self.profile

    def image(self, name: str) -> str:
        """A reference to *name* ("repo:tag", "repo@sha256:...") on this registry."""
        return f"{self.host}/{name}"

    def log_size(self) -> int:
        """How many bytes the log holds now; pass it to :meth:`read_log` later."""
        if self.log_path is None or not self.log_path.exists():
            return 0
        return self.log_path.stat().st_size

    def read_log(self, since: int = 0, limit: int = 64 * 1024) -> str:
        """The log from byte *since* on, at most its last *limit* bytes ("" when none)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(since, size - limit))
            return log.read().decode(errors="replace")


class Launcher(Protocol):
    """Starts one registry; leaving the context stops it and removes what it wrote."""

    @property
    def name(self) -> str:
        """A short label for reports: "distribution", "url"..."""

    def start(self) -> AbstractContextManager[RunningRegistry]: ...


def require_executable(peer: str) -> str:
    """The peer's executable path; :class:`PeerMissingError` with the install hint if none."""
    reason = missing_reason(peer)
    executable = shutil.which(PEERS[peer].executable)
    if reason is not None or executable is None:
        raise PeerMissingError(reason or f"{peer} vanished from PATH")
    return executable


@dataclass(frozen=True)
class TokenAuth:
    """distribution's ``auth.token``: the realm its challenges send clients to for tokens,
    the service and issuer those tokens must name, and the PEM certificates whose keys
    may sign them (``rootcertbundle``)."""

    realm: str
    service: str
    issuer: str
    root_certificates: bytes


@dataclass(frozen=True)
class DistributionSettings:
    """The optional behaviour of a distribution registry; its launchers extend this.
    ``auth="basic"`` makes a user of its own; ``token_auth`` puts it behind a token
    server someone else runs (clients log in there)."""

    schema1: bool = True
    delete: bool = True
    auth: Literal["basic"] | None = None
    token_auth: TokenAuth | None = None
    tls: bool = False
    client_certificates: bool = False  # http.tls.clientcas: clients must present one
    log_level: str = "info"

    def __post_init__(self) -> None:
        if self.auth is not None and self.token_auth is not None:
            raise HarnessError("a registry has one access controller: basic or token auth")
        if self.client_certificates and not self.tls:
            raise HarnessError("client certificates need tls=True")

    def profile(self) -> frozenset[Feature]:
        features = {Feature.MOUNT, Feature.CATALOG}
        if self.schema1:
            features.add(Feature.SCHEMA1)
        if self.delete:
            features.add(Feature.DELETE)
        return frozenset(features)


@dataclass(frozen=True)
class PreparedConfig:
    """A distribution config file and what clients need to use the registry it describes."""

    config_path: Path
    registry: RunningRegistry


def write_distribution_config(workdir: Path, port: int,
                              settings: DistributionSettings) -> PreparedConfig:
    """Write config, storage dir, htpasswd and TLS files for one registry into *workdir*.

    The config is JSON, which the registry's YAML parser reads as well, so no YAML writer
    is needed.
    """
    storage = workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = {
        "version": "0.1",
        "log": {"level": settings.log_level, "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(storage)},
                    "delete": {"enabled": settings.delete}},
        "http": {"addr": f"{LOOPBACK}:{port}", "secret": secrets.token_hex(16)},
        "compatibility": {"schema1": {"enabled": settings.schema1}},
    }
    credentials = None
    if settings.auth == "basic":
        credentials = Credentials("harness", secrets.token_urlsafe(12))
        hashed = bcrypt.hashpw(credentials.password.encode(), bcrypt.gensalt(rounds=4))
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text(f"{credentials.username}:{hashed.decode()}\n")
        config["auth"] = {"htpasswd": {"realm": "oci-harness", "path": str(htpasswd)}}
    if settings.token_auth is not None:
        bundle = workdir / "token-roots.pem"
        bundle.write_bytes(settings.token_auth.root_certificates)
        config["auth"] = {"token": {
            "realm": settings.token_auth.realm, "service": settings.token_auth.service,
            "issuer": settings.token_auth.issuer, "rootcertbundle": str(bundle)}}
    ca_file = cert_dir = None
    if settings.tls:
        tls = make_tls_files(workdir / "tls")
        ca_file = tls.ca_file
        http = config["http"]
        assert isinstance(http, dict)
        http["tls"] = {"certificate": str(tls.cert_file), "key": str(tls.key_file)}
        if settings.client_certificates:
            # The client's CA stays apart from the cert dir: a CA there would be trusted.
            client = make_client_files(workdir / "client")
            http["tls"]["clientcas"] = [str(client.ca_file)]
            cert_dir = _cert_dir(workdir / "certs.d", ca_file, client)
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config, indent=2))
    scheme = "https" if settings.tls else "http"
    host = f"{LOOPBACK}:{port}"
    registry = RunningRegistry(url=f"{scheme}://{host}", host=host, credentials=credentials,
                               ca_file=ca_file, cert_dir=cert_dir,
                               profile=settings.profile(),
                               log_path=workdir / "registry.log")
    return PreparedConfig(config_path, registry)


def _cert_dir(directory: Path, server_ca: Path, client: TLSFiles) -> Path:
    """A ``--cert-dir`` (containers-certs.d(5)) for a registry asking for client
    certificates: its CA as ``ca.crt`` and the client pair as ``NAME.cert``/``NAME.key``."""
    directory.mkdir()
    shutil.copyfile(server_ca, directory / "ca.crt")
    for source in (client.cert_file, client.key_file):
        shutil.copy2(source, directory / source.name)
    return directory


def client_certificate(registry: RegistryAccess) -> tuple[str, str] | None:
    """The first ``NAME.cert``/``NAME.key`` pair of *registry*'s cert dir, as ``requests``
    takes it (``cert=``); None without one."""
    if registry.cert_dir is None:
        return None
    for cert in sorted(registry.cert_dir.glob("*.cert")):
        return str(cert), str(cert.with_suffix(".key"))
    return None


class ServerHandle(Protocol):
    """A registry server being started: asked whether it died, and told to stop."""

    def exit_problem(self) -> str | None:
        """None while it runs; else why it stopped (e.g. "exited with code 1")."""

    def stop(self) -> None: ...


def wait_until_serving(registry: RunningRegistry, handle: ServerHandle | None,
                       timeout: float = START_TIMEOUT) -> None:
    """Poll ``GET /v2/`` until any HTTP answer (200 or 401) comes back."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with warnings.catch_warnings():  # insecure was asked for: no warning per poll
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                requests.get(f"{registry.url}/v2/", timeout=1, verify=registry.verify,
                             cert=client_certificate(registry))
            return
        except requests.exceptions.SSLError as exc:  # retrying cannot fix a certificate
            raise RegistryStartError(f"TLS with {registry.url} failed: {exc}") from exc
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or someone else holds the port: see exit_problem
        problem = handle.exit_problem() if handle is not None else None
        if problem is None and time.monotonic() > deadline:
            problem = f"did not answer /v2/ within {timeout:.0f}s"
        if problem is not None:
            log = registry.read_log(limit=_LOG_TAIL).strip()
            raise RegistryStartError(f"registry at {registry.url} {problem}: {log}")
        time.sleep(0.05)


class ServerStarter(Protocol):
    def __call__(self, prepared: PreparedConfig) -> ServerHandle: ...


@contextlib.contextmanager
def serve_distribution(settings: DistributionSettings,
                       start_server: ServerStarter) -> Iterator[RunningRegistry]:
    """Run a distribution registry on a free loopback port inside a temporary folder.

    The free port can be taken by someone else between choosing and binding it, so a
    server that dies with "address already in use" is retried on another port.
    """
    with tempfile.TemporaryDirectory(prefix="oci-harness-registry-") as tmp:
        for attempt in range(_PORT_ATTEMPTS):
            workdir = Path(tmp) / f"attempt-{attempt}"
            prepared = write_distribution_config(workdir, free_port(LOOPBACK), settings)
            handle = start_server(prepared)
            try:
                try:
                    wait_until_serving(prepared.registry, handle)
                except RegistryStartError as exc:
                    if "address already in use" in str(exc) and attempt + 1 < _PORT_ATTEMPTS:
                        continue
                    raise
                yield prepared.registry
                return
            finally:
                handle.stop()


@dataclass
class _Process:
    """A native ``docker-registry serve`` child process."""

    process: subprocess.Popen[bytes]

    def exit_problem(self) -> str | None:
        code = self.process.poll()
        return None if code is None else f"exited with code {code}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass(frozen=True)
class DistributionLauncher(DistributionSettings):
    """Debian's ``docker-registry`` (distribution 2.8) as a child process on loopback."""

    name: str = "distribution"

    def start(self) -> AbstractContextManager[RunningRegistry]:
        executable = require_executable("docker-registry")

        def spawn(prepared: PreparedConfig) -> ServerHandle:
            log_path = prepared.registry.log_path
            assert log_path is not None
            with log_path.open("wb") as log:
                process = subprocess.Popen(
                    [executable, "serve", str(prepared.config_path)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in the terminal reaches only us
                )
            return _Process(process)

        return serve_distribution(self, spawn)


Access = RegistryAccess
"""How a client logs in to, and trusts, a registry someone else runs: conformance's
``--username/--password``, ``--token``, ``--ca-file`` and ``--insecure``."""


@dataclass(frozen=True)
class URLLauncher:
    """A registry someone else runs; ``start()`` only checks that it answers ``/v2/``."""

    url: str
    access: Access = field(default_factory=Access)
    profile: frozenset[Feature] = field(default_factory=frozenset)
    timeout: float = 5.0
    name: str = "url"

    def __post_init__(self) -> None:
        self.registry()  # checks the URL against the access (http:// with a CA file...)

    def registry(self) -> RunningRegistry:
        """The registry as a client reaches it: the URL's origin, with this access."""
        parts = urlsplit(self.url)
        access = {f.name: getattr(self.access, f.name) for f in dataclasses.fields(RegistryAccess)}
        return RunningRegistry(**access | {"url": f"{parts.scheme}://{parts.netloc}"},
                               host=parts.netloc, profile=self.profile)

    @contextlib.contextmanager
    def start(self) -> Iterator[RunningRegistry]:
        registry = self.registry()
        wait_until_serving(registry, None, timeout=self.timeout)
        yield registry
