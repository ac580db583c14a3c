"""The registry a test talks to: the project's fake (in process or over HTTP) or a real one.

:class:`RegistryUnderTest` is the one handle every registry fixture returns. It names
images (``registry.image("app:v1")``), opens them through the ``docker://`` transport with
the right credentials and TLS settings (``registry.at("app:v1")``), and, when the registry
is the fake, exposes its transcript, faults and profile switches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fakeregistry import AuthConfig, FaultRule, Profile, Registry
from fakeregistry.faults import Faults
from fakeregistry.profiles import get_profile
from fakeregistry.transcript import Transcript
from harness.model.access import Credentials, RegistryAccess
from harness.pytest_plugin.locations import ImageAt
from harness.transports.types import SystemContext
from harness.util.errors import HarnessError

if TYPE_CHECKING:
    from harness.peers.launchers import RunningRegistry

FAKE = "fake"
DEFAULT_USERS: Mapping[str, str] = {"tester": "secret"}
# Fast retries: a fault test should see the client retry, not wait for it.
RETRY_TIMES, RETRY_DELAY = 3, 0.01
_hosts = itertools.count(1)


class NotAFakeError(HarnessError):
    """A fake-only feature (transcript, faults, profiles) asked of a real registry."""


@dataclass(frozen=True)
class RegistryUnderTest:
    """A running registry and how to reach it; ``fake`` is set when it is the fake."""

    target: str
    url: str
    host: str
    # SystemContext's repr shows registry_token; a failing assertion prints this repr.
    ctx: SystemContext = field(repr=False)
    namespace: str = ""
    fake: Registry | None = None
    running: RunningRegistry | None = field(default=None, repr=False)
    log_offset: int = 0
    """Where the real registry's log stood when the test started."""

    @property
    def is_fake(self) -> bool:
        return self.fake is not None

    def image(self, name: str) -> str:
        """``host/<namespace>/name`` for *name* (``app:v1``, ``app@sha256:…``)."""
        prefix = f"{self.namespace}/" if self.namespace else ""
        return f"{self.host}/{prefix}{name}"

    def at(self, name: str) -> ImageAt:
        """*name* on this registry as a ``docker://`` reference with this registry's context."""
        from harness.transports.docker import TRANSPORT  # noqa: PLC0415

        return ImageAt(TRANSPORT.parse_reference("//" + self.image(name)), self.ctx)

    def with_context(self, **changes: object) -> RegistryUnderTest:
        """The same registry reached with other client settings, e.g.
        ``extra={"docker-chunk-size": "1048576"}`` or ``retry_times=0``."""
        return dataclasses.replace(self, ctx=dataclasses.replace(self.ctx, **changes))  # type: ignore[arg-type]

    def as_user(self, username: str, password: str) -> RegistryUnderTest:
        """The same registry reached with other credentials."""
        return self.with_context(credentials=Credentials(username, password))

    def failure_report(self, limit: int = 40) -> str:
        """What a failed test's report shows: the fake's last *limit* exchanges, or the
        real registry's log since the test started."""
        if self.fake is None:
            log = self.running.read_log(since=self.log_offset) if self.running else ""
            return log or "(the registry wrote no log during the test)"
        lines = [f"{e.method} {e.path}{'?' + e.query if e.query else ''} -> {e.status}"
                 + (f"  [fault {e.fault}]" if e.fault else "")
                 for e in self.fake.transcript.entries[-limit:]]
        return "\n".join(lines) or "(no requests)"

    # -- the fake's controls -------------------------------------------------------------
    def _fake(self, what: str) -> Registry:
        if self.fake is None:
            raise NotAFakeError(f"{what} needs the fake registry; this test runs against "
                                f"{self.target}")
        return self.fake

    @property
    def transcript(self) -> Transcript:
        return self._fake("the transcript").transcript

    @property
    def faults(self) -> Faults:
        return self._fake("fault injection").faults

    def fault(self, **rule: object) -> FaultRule:
        """Add a :class:`~fakeregistry.FaultRule` (``method="PATCH", nth=1, drop_after=0``)."""
        return self.faults.add(FaultRule(**rule))  # type: ignore[arg-type]

    def use_profile(self, profile: str | Profile, **switches: object) -> Profile:
        """Switch the fake to a preset (``"ecr"``) with some switches changed."""
        fake = self._fake("a profile switch")
        fake.profile = get_profile(profile).replace(**switches)
        return fake.profile


def auth_config(auth: str | AuthConfig | None, users: Mapping[str, str],
                readonly: frozenset[str]) -> AuthConfig | None:
    """``"basic"``/``"token"`` with *users* (plain passwords), or a ready config."""
    if auth is None or isinstance(auth, AuthConfig):
        return auth
    if auth not in ("none", "basic", "token"):
        raise HarnessError(f"unknown auth mode {auth!r}: use none, basic or token")
    return AuthConfig.with_passwords(auth, users, readonly=readonly)  # type: ignore[arg-type]


@contextlib.contextmanager
def start_fake(profile: str | Profile = "spec", *, auth: str | AuthConfig | None = None,
               users: Mapping[str, str] | None = None, readonly: frozenset[str] = frozenset(),
               tls: bool = False, http: bool = False, seed: int = 0,
               storage_dir: Path | None = None) -> Iterator[RegistryUnderTest]:
    """A fresh fake: in process through ``responses`` unless *http* or *tls* asks for a
    real socket (subprocess clients such as skopeo need one)."""
    users = DEFAULT_USERS if users is None else users
    config = auth_config(auth, users, readonly)
    fake = Registry(profile, auth=config, seed=seed, storage_dir=storage_dir)
    credentials = None
    if config is not None and config.mode != "none" and users:
        name = next(iter(users))
        credentials = Credentials(name, users[name])
    try:
        if http or tls:
            from fakeregistry import serve  # noqa: PLC0415

            with serve(fake, tls=tls) as server:
                ctx = _context(RegistryAccess(credentials, ca_file=server.ca_file,
                                              url=server.url))
                yield RegistryUnderTest(FAKE, server.url, server.host, ctx, fake=fake)
        else:
            from fakeregistry import inprocess  # noqa: PLC0415

            host = f"registry-{next(_hosts)}.fake"
            with inprocess(fake, f"https://{host}") as url:
                ctx = _context(RegistryAccess(credentials, url=url))
                yield RegistryUnderTest(FAKE, url, host, ctx, fake=fake)
    finally:
        fake.transcript.close()


def _context(access: RegistryAccess) -> SystemContext:
    return SystemContext.reaching(access, retry_times=RETRY_TIMES, retry_delay=RETRY_DELAY)


def real_target(spec: str, running: RunningRegistry, namespace: str) -> RegistryUnderTest:
    """A handle on a session-wide real registry, confined to *namespace*."""
    return RegistryUnderTest(spec, running.url, running.host, _context(running),
                             namespace=namespace, running=running,
                             log_offset=running.log_size())


def check_login(running: RunningRegistry) -> None:
    """``GET /v2/`` once with the registry's credentials or token (a token realm is asked
    for a pull token of a repository nobody uses); raises the registry's refusal, so wrong
    credentials stop a run once instead of failing every test with a 401."""
    from harness.transports.docker.client import RegistryClient  # noqa: PLC0415

    client = RegistryClient(running.host, "oci-harness/login-check", _context(running))
    try:
        client.request("GET", f"{client.base_url}/v2/", ok=(200,)).close()
    finally:
        client.close()

