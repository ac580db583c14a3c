"""How to reach a registry: where it answers, who the client is there, which TLS it trusts.

One value for every part of the project that talks to a registry: the settings a copy
carries (``harness.transports.types.SystemContext.reaching``), a registry a test started
(``harness.peers.launchers.RunningRegistry``), one someone else runs
(``harness.peers.launchers.Access``, the ``url=`` targets), and the conformance suite's
target (``conformance.client.Target``). Checked when made, so a contradiction (a token and
a password, a CA file and no verification, a CA for plain HTTP) is one error before any
request. :func:`access_from` turns command-line flags and environment variables into one,
with the same rules for every command that takes them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

# Credentials were first defined here; importers still find them (an explicit re-export).
from harness.model.credentials import Credentials as Credentials  # noqa: PLC0414
from harness.util.cli import is_true
from harness.util.errors import HarnessError


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


OCI_VARIABLES: Final[Mapping[str, str]] = {"username": "OCI_USERNAME",
                                           "password": "OCI_PASSWORD"}
"""The variables the OCI distribution-spec conformance suite reads its login from."""
_AUTHENTICATION: Final = ("username", "password", "token")
_TRUST: Final = ("ca-file", "insecure")


class _Setting(NamedTuple):
    value: str
    name: str  # the flag or the variable it came from, for an error

    def __str__(self) -> str:
        """As it was written: ``--username alice`` or ``OCI_USERNAME=alice``."""
        return f"{self.name} {self.value}" if self.name.startswith("-") else \
            f"{self.name}={self.value}"


def _one_place(keys: tuple[str, ...], flags: Mapping[str, str | None], env: Mapping[str, str],
               variables: Mapping[str, str], prefix: str
               ) -> tuple[dict[str, _Setting], dict[str, str]]:
    """The settings of one choice (*keys*) and the names of that choice's settings where
    they came from: the flags when any of them is given, else the variables."""
    names = {key: prefix + key for key in keys}
    given = {key: _Setting(value, names[key]) for key in keys
             if (value := flags[key]) is not None}
    if given:
        return given, names
    names = {key: variables[key] for key in keys if key in variables}
    return {key: _Setting(env[name], name) for key, name in names.items() if env.get(name)}, names


def access_from(url: str, *, username: str | None = None, password: str | None = None,
                token: str | None = None, ca_file: Path | None = None, insecure: bool = False,
                env: Mapping[str, str], variables: Mapping[str, str] = OCI_VARIABLES,
                flag_prefix: str = "--", url_name: str,
                ask_password: Callable[[str], str | None] | None = None) -> RegistryAccess:
    """How to reach the registry at *url*, from flags (``{flag_prefix}username``,
    ``-password``, ``-token``, ``-ca-file``, ``-insecure``; None or False: not given) and
    the *env* variables *variables* names for them (at least a user's and a password's:
    :data:`OCI_VARIABLES`); *url_name* is the flag or variable that gave *url*.

    The rules (docs/model.md, "From flags and variables"): authentication (a user and
    password, or a token) and trust (a CA file, or insecure) each come whole from the
    command line when any of their flags is given, else from the environment (an empty
    variable is unset); a user without a password is asked for through *ask_password*
    (None: nowhere to ask; it answers None: no terminal), else refused; insecure means nothing
    to a plain-HTTP registry and is accepted, a CA file for one is refused. Every refusal
    is one :class:`HarnessError` line naming the flags or variables.
    """
    flags = {"username": username, "password": password, "token": token,
             "ca-file": None if ca_file is None else str(ca_file),
             "insecure": "1" if insecure else None}
    auth, auth_names = _one_place(_AUTHENTICATION, flags, env, variables, flag_prefix)
    if "token" in auth and len(auth) > 1:
        raise HarnessError(f"{', '.join(s.name for s in auth.values())}: give either a token "
                           "or a username and password, not both")
    trust, _ = _one_place(_TRUST, flags, env, variables, flag_prefix)
    if "insecure" in trust and not is_true(trust["insecure"].value):
        del trust["insecure"]
    if len(trust) > 1:
        raise HarnessError(f"{', '.join(s.name for s in trust.values())}: give either a CA "
                           "file or insecure, not both")
    plain_http = urlsplit(url).scheme == "http"
    ca = trust.get("ca-file")
    if ca is not None and plain_http:
        raise HarnessError(f"{ca.name}: a CA file verifies https:// registries; {url} is "
                           "plain HTTP")
    if ca is not None and not Path(ca.value).is_file():
        raise HarnessError(f"{ca.name}: CA file {ca.value} does not exist")
    credentials = _credentials(auth, auth_names, ask_password)
    try:
        return RegistryAccess(credentials,
                              auth["token"].value if "token" in auth else None,
                              Path(ca.value) if ca is not None else None,
                              insecure="insecure" in trust and not plain_http,
                              url=url.rstrip("/"))
    except HarnessError as error:  # what is left to refuse is the URL
        raise HarnessError(f"{url_name}: {error}") from None


def _credentials(auth: dict[str, _Setting], names: dict[str, str],
                 ask_password: Callable[[str], str | None] | None) -> Credentials | None:
    """A user and password given together; for a user alone the password is asked for."""
    user, password = auth.get("username"), auth.get("password")
    if user is None:
        if password is not None:
            raise HarnessError(f"{password.name}: a password needs a user name "
                               f"({names['username']})")
        return None
    if password is not None:
        return Credentials(user.value, password.value)
    if ask_password is None:  # nowhere to ask
        raise HarnessError(f"{user}: no password given ({names['password']})")
    asked = ask_password(user.value)
    if asked is None:
        raise HarnessError(f"{user}: no password given ({names['password']}) and no terminal "
                           "to ask on")
    return Credentials(user.value, asked)
