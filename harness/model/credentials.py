"""A user name and password for a registry: what every client of one may hold.

Apart from :mod:`harness.model.access` (how to reach a registry, from flags and the
environment), which a copy does not need: the docker transport, which takes credentials
from its context or an auth file, imports only this.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, repr=False)  # the __repr__ below, which hides the password
class Credentials:
    """A user name and password (or an identity token with an empty user name)."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<redacted>)"
