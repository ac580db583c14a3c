"""Docker image references: ``[domain/]path[:tag][@digest]``, parsed and normalised.

Follows the grammar of distribution's ``reference`` package (``ParseNormalizedNamed``):
the first path component is a domain only if it contains ``.`` or ``:``, is ``localhost``
or has an upper-case letter; otherwise the domain is ``docker.io`` and a single-component
path gets ``library/``. Every rejection names the rule that was broken, so a user can fix
the input without reading the grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from harness.model.digest import Digest, DigestError
from harness.util.errors import HarnessError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_REPO_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = re.compile(
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")


class ReferenceError(HarnessError, ValueError):
    """A string is not a valid image reference; the message names the broken rule."""


def validate_tag(tag: str) -> None:
    """Raise :class:`ReferenceError` unless *tag* matches ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``."""
    if not _TAG.fullmatch(tag):
        if not tag:
            raise ReferenceError("invalid tag '': a tag must not be empty")
        if len(tag) > 128:
            raise ReferenceError(f"invalid tag {tag[:20]!r}...: a tag has at most 128 characters")
        raise ReferenceError(
            f"invalid tag {tag!r}: a tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}"
        )


def _validate_path(path: str, whole: str) -> None:
    for component in path.split("/"):
        if not component:
            raise ReferenceError(f"invalid reference {whole!r}: empty path component")
        if not _PATH_COMPONENT.fullmatch(component):
            if component.lower() != component and _PATH_COMPONENT.fullmatch(component.lower()):
                raise ReferenceError(
                    f"invalid reference {whole!r}: repository name must be lowercase"
                )
            raise ReferenceError(
                f"invalid reference {whole!r}: path component {component!r} must match "
                "[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*"
            )


def validate_repository(name: str) -> None:
    """Check a repository name as a registry receives it in ``/v2/<name>/...``.

    The name is the path grammar only (no tag or digest); it is what a registry answers
    NAME_INVALID for.
    """
    if not name:
        raise ReferenceError("invalid repository name '': a name must not be empty")
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError(
            f"invalid repository name {name[:30]!r}...: a name has at most "
            f"{NAME_TOTAL_LENGTH_MAX} characters"
        )
    _validate_path(name, name)


def _split_domain(name: str) -> tuple[str, str]:
    """Split a name into (domain, path) the way ``splitDockerDomain`` does."""
    first, sep, rest = name.partition("/")
    is_domain = sep and (
        "." in first or ":" in first or first == "localhost" or first.lower() != first
    )
    if is_domain:
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = OFFICIAL_REPO_PREFIX + path
    return domain, path


@dataclass(frozen=True)
class Reference:
    """A normalised reference; ``str()`` gives the full form and parses back to an equal one."""

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise *text*; raise :class:`ReferenceError` naming the broken rule."""
        if not isinstance(text, str):
            raise ReferenceError(f"a reference must be a string, not {type(text).__name__}")
        if not text:
            raise ReferenceError("invalid reference '': a reference must not be empty")
        if _IDENTIFIER.fullmatch(text):
            raise ReferenceError(
                f"invalid reference {text!r}: cannot specify 64-byte hexadecimal strings"
            )
        remainder, at, digest_text = text.partition("@")
        digest = None
        if at:
            try:
                digest = Digest.parse(digest_text)
            except DigestError as exc:
                raise ReferenceError(f"invalid reference {text!r}: {exc}") from exc
        name, tag = remainder, None
        colon = remainder.rfind(":")
        if colon > remainder.rfind("/"):
            name, tag = remainder[:colon], remainder[colon + 1 :]
            try:
                validate_tag(tag)
            except ReferenceError as exc:
                raise ReferenceError(f"invalid reference {text!r}: {exc}") from exc
        if not name:
            raise ReferenceError(f"invalid reference {text!r}: the name must not be empty")
        domain, path = _split_domain(name)
        if domain != DEFAULT_DOMAIN and not _DOMAIN.fullmatch(domain):
            raise ReferenceError(
                f"invalid reference {text!r}: domain {domain!r} must be hostname "
                "components joined by '.' with an optional ':port'"
            )
        _validate_path(path, text)
        full_name = f"{domain}/{path}"
        if len(full_name) > NAME_TOTAL_LENGTH_MAX:
            raise ReferenceError(
                f"invalid reference {text[:30]!r}...: repository name must not be more than "
                f"{NAME_TOTAL_LENGTH_MAX} characters"
            )
        return cls(domain, path, tag, digest)

    @property
    def name(self) -> str:
        """``domain/path``: the repository, fully qualified."""
        return f"{self.domain}/{self.path}"

    @property
    def tag_or_latest(self) -> str:
        """The tag, or ``latest`` when none was given (what pull and push assume)."""
        return self.tag if self.tag is not None else DEFAULT_TAG

    def familiar_name(self) -> str:
        """The name as a user types it: ``docker.io/library/`` and ``docker.io/`` dropped.

        Unlike distribution's ``FamiliarName``, ``docker.io/`` stays when the short form
        would be read back with another domain (``docker.io/a.b/c``), so it round-trips.
        """
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        short = self.path.removeprefix(OFFICIAL_REPO_PREFIX)
        if short != self.path and "/" not in short:
            return short
        if _split_domain(self.path)[0] != DEFAULT_DOMAIN:
            return self.name
        return self.path

    def familiar(self) -> str:
        """The short form of the whole reference (``busybox:1.36`` for docker.io ones)."""
        return self.familiar_name() + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        """This repository with *tag* (the digest is kept)."""
        validate_tag(tag)
        return replace(self, tag=tag)

    def with_digest(self, digest: Digest) -> Reference:
        """This repository with *digest* (the tag is kept)."""
        return replace(self, digest=digest)

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        return self.name + self._suffix()
