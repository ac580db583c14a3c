"""How to reach a registry: where it answers, who the client is there, which TLS it trusts.

One value for every part of the project that talks to a registry: the settings a copy
carries (``harness.transports.types.SystemContext.reaching``), a registry a test started
(``harness.peers.launchers.RunningRegistry``), one someone else runs
(``harness.peers.launchers.Access``, the ``url=`` targets), and the conformance suite's
target (``conformance.client.Target``). Checked when made, so a contradiction (a token and
a password, a CA file and no verification, a CA for plain HTTP) is one error before any
request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.util.errors import HarnessError


@dataclass(frozen=True)
class Credentials:
    """A user name and password (or an identity token with an empty user name)."""

    username: str
    password: str

    def __repr__(self) -> str:  # never print a secret
        return f"Credentials(username={self.username!r}, password=<redacted>)"


@dataclass(frozen=True)
class RegistryAccess:
    """A registry's address (``url``, empty when an image reference names the registry),
    credentials or a bearer ``token`` (sent as is), and TLS trust: a ``ca_file``, a
    ``cert_dir`` in containers' layout, or ``insecure`` (no verification)."""

    credentials: Credentials | None = None
    token: str | None = field(default=None, repr=False)  # a secret: never printed
    ca_file: Path | None = None
    insecure: bool = False
    cert_dir: Path | None = None
    url: str = ""  # "https://host:port", no path, no trailing slash

    def __post_init__(self) -> None:
        if self.token is not None and self.credentials is not None:
            raise HarnessError("give either a token or a username and password, not both")
        if self.ca_file is not None and self.insecure:
            raise HarnessError("give either a CA file or insecure, not both")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise HarnessError(f"CA file {self.ca_file} does not exist")
        if self.url:
            self._check_url()

    def _check_url(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise HarnessError(f"registry URL {self.url!r} is not http(s)://HOST[:PORT]")
        if parts.username is not None or parts.password is not None:
            # It would show in test ids and logs; credentials have their own options.
            raise HarnessError("registry URL holds a user or password; give them as a "
                               "username and password instead")
        if parts.scheme == "http" and (self.ca_file or self.insecure):
            raise HarnessError(f"a CA file or insecure applies to https:// registries; "
                               f"{self.url} is plain HTTP")

    @property
    def verify(self) -> str | bool:
        """How ``requests`` should check the certificate (``verify=``)."""
        if self.insecure:
            return False
        return str(self.ca_file) if self.ca_file else True

    @property
    def tls_verify(self) -> bool:
        """Whether a client must insist on verified HTTPS (containers/image's
        ``DockerInsecureSkipTLSVerify`` negated): false for an insecure or plain-HTTP one."""
        return not self.insecure and urlsplit(self.url).scheme != "http"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in a report or a log."""
        password = self.credentials.password if self.credentials else None
        return tuple(s for s in (password, self.token) if s)

    def to_plain(self) -> dict[str, Any]:
        """This access as JSON values (for a process that receives only those, such as an
        xdist worker); a subclass's own fields are left out. It holds the secrets: never
        put it in a report."""
        credentials = self.credentials
        return {"url": self.url, "username": credentials.username if credentials else None,
                "password": credentials.password if credentials else None,
                "token": self.token, "ca_file": str(self.ca_file) if self.ca_file else None,
                "insecure": self.insecure,
                "cert_dir": str(self.cert_dir) if self.cert_dir else None}

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> RegistryAccess:
        """The access :meth:`to_plain` wrote."""
        username = data["username"]
        return cls(Credentials(username, data["password"]) if username is not None else None,
                   data["token"], Path(data["ca_file"]) if data["ca_file"] else None,
                   bool(data["insecure"]), Path(data["cert_dir"]) if data["cert_dir"] else None,
                   data["url"])
